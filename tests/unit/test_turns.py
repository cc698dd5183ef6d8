"""agent/turns.py: turn events from VAD probabilities over 32 ms blocks."""

from __future__ import annotations

from voxroom.agent.turns import TurnDetector, TurnEvent
from voxroom.config import TurnConfig

BLOCK_MS = 32.0
SPEECH, QUIET = 0.9, 0.05

ONSET, LOST, START, PAUSE, RESUME, END = (
    TurnEvent.ONSET,
    TurnEvent.ONSET_LOST,
    TurnEvent.SPEECH_START,
    TurnEvent.PAUSE,
    TurnEvent.RESUME,
    TurnEvent.END_OF_TURN,
)
# The timeline these tests state: onset 1 block, turn 5 blocks, pause after 5 silent blocks,
# end after 16 silent blocks (512 ms >= 500 ms).
TIMELINE = {
    "onset_ms": 32,
    "min_speech_ms": 160,
    "speculative_stt_after_ms": 160,
    "end_of_turn_silence_ms": 500,
}


def run(probabilities: list[float], **config: float) -> list[tuple[int, TurnEvent]]:
    """(block index, event) for every event the detector emits."""
    detector = TurnDetector(TurnConfig(**{**TIMELINE, **config}), BLOCK_MS)
    events = []
    for index, probability in enumerate(probabilities):
        if (event := detector.update(probability)) is not None:
            events.append((index, event))
    return events


def test_onset_then_speech_start_after_min_speech_ms() -> None:
    assert run([QUIET] * 3 + [SPEECH] * 8) == [(3, ONSET), (7, START)]


def test_full_turn_timeline() -> None:
    events = run([SPEECH] * 6 + [QUIET] * 20)

    assert events == [(0, ONSET), (4, START), (6 + 4, PAUSE), (6 + 15, END)]


def test_resume_after_pause_then_a_new_pause_and_end() -> None:
    probabilities = [SPEECH] * 5 + [QUIET] * 6 + [SPEECH] * 2 + [QUIET] * 16

    assert run(probabilities) == [
        (0, ONSET),
        (4, START),
        (9, PAUSE),
        (11, RESUME),
        (17, PAUSE),
        (28, END),
    ]


def test_speech_before_the_pause_threshold_resets_the_silence() -> None:
    probabilities = [SPEECH] * 5 + [QUIET] * 4 + [SPEECH] + [QUIET] * 4 + [SPEECH] * 3

    assert run(probabilities) == [(0, ONSET), (4, START)]  # never 160 ms of silence


def test_short_blips_are_onsets_that_get_lost_not_turns() -> None:
    blips = ([SPEECH] * 4 + [QUIET]) * 3  # 128 ms bursts: coughs, clicks

    assert run(blips) == [(0, ONSET), (4, LOST), (5, ONSET), (9, LOST), (10, ONSET), (14, LOST)]


def test_onset_waits_for_onset_ms() -> None:
    assert run([SPEECH] * 3 + [QUIET], onset_ms=96) == [(2, ONSET), (3, LOST)]
    assert run([SPEECH] * 2 + [QUIET], onset_ms=96) == []


def test_no_onset_lost_once_the_turn_started() -> None:
    events = run([SPEECH] * 5 + [QUIET] * 3)

    assert LOST not in [event for _, event in events]


def test_hysteresis_keeps_speech_going_through_a_dip() -> None:
    # Once voiced, 0.4 (>= 0.5 - 0.15) still counts as speech: no pause while it flutters.
    assert run([SPEECH] * 5 + [0.4] * 30) == [(0, ONSET), (4, START)]


def test_hysteresis_does_not_start_speech_below_the_threshold() -> None:
    assert run([0.4] * 30) == []


def test_after_silence_a_dip_level_does_not_resume() -> None:
    # Back in silence the full threshold applies again: 0.4 is not a RESUME.
    probabilities = [SPEECH] * 5 + [QUIET] * 5 + [0.4] * 11

    assert run(probabilities) == [(0, ONSET), (4, START), (9, PAUSE), (20, END)]


def test_below_the_lower_threshold_is_silence_even_while_voiced() -> None:
    assert run([SPEECH] * 5 + [0.3] * 16) == [(0, ONSET), (4, START), (9, PAUSE), (20, END)]


def test_next_turn_needs_min_speech_again() -> None:
    first = [SPEECH] * 5 + [QUIET] * 16
    second = [SPEECH] * 4 + [QUIET] + [SPEECH] * 5

    assert run(first + second) == [
        (0, ONSET),
        (4, START),
        (9, PAUSE),
        (20, END),
        (21, ONSET),
        (25, LOST),
        (26, ONSET),
        (30, START),
    ]


def test_custom_config_changes_the_timeline() -> None:
    events = run(
        [SPEECH] * 4 + [QUIET] * 12,
        onset_ms=64,
        min_speech_ms=96,
        speculative_stt_after_ms=64,
        end_of_turn_silence_ms=320,
        vad_threshold=0.8,
    )

    assert events == [(1, ONSET), (2, START), (5, PAUSE), (13, END)]


def test_default_config_orders_the_waits_sensibly() -> None:
    config = TurnConfig()

    assert 0 < config.onset_ms <= config.min_speech_ms
    assert config.speculative_stt_after_ms < config.end_of_turn_silence_ms
    assert config.end_of_turn_silence_ms <= config.incomplete_turn_silence_ms
    events = [e for _, e in run([SPEECH] * 20 + [QUIET] * 60, **config.model_dump())]
    assert events == [ONSET, START, PAUSE, END]


def test_reset_drops_a_turn_in_progress() -> None:
    detector = TurnDetector(TurnConfig(**TIMELINE), BLOCK_MS)
    for _ in range(5):
        detector.update(SPEECH)
    assert detector.in_turn

    detector.reset()

    assert not detector.in_turn
    assert [detector.update(QUIET) for _ in range(20)] == [None] * 20


def test_timing_counters_are_exposed() -> None:
    detector = TurnDetector(TurnConfig(**TIMELINE), BLOCK_MS)
    for _ in range(7):
        detector.update(SPEECH)
    for _ in range(3):
        detector.update(QUIET)

    assert detector.speech_ms == 7 * BLOCK_MS
    assert detector.silence_ms == 3 * BLOCK_MS
