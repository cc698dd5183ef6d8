"""A 30-minute session on a fake clock: both tracks stay on the session clock to ±20 ms.

The user side starts late, drifts (its sender clock runs 120 ppm fast), arrives with ±30 ms
jitter, in bursts and with gaps; the agent side drifts the other way (90 ppm slow) and stalls
now and then (frames sent late, then back to back). Marker tones at known session times must
be found at those times in user.wav, agent.wav and the right channel of stereo.wav.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from voxroom.audit.recorder import SessionRecorder

from .synthetic import (
    FakeClock,
    Marker,
    Side,
    marker_offset,
    marker_strength,
    play,
    read_wav,
)

SESSION = 1800.0
TOLERANCE = 0.020
RATE = 16000

USER_MARKERS = tuple(
    Marker(t, 500.0 + 150.0 * i)
    for i, t in enumerate((30.0, 300.0, 600.0, 703.2, 900.0, 1012.5, 1200.0, 1500.0, 1795.0))
)
AGENT_MARKERS = tuple(
    Marker(t, 2600.0 + 150.0 * i)
    for i, t in enumerate((15.0, 305.0, 605.5, 905.0, 1205.0, 1505.0, 1799.0))
)
Hold = tuple[float, float]
USER_GAPS = ((0.0, 2.0), (400.0, 0.5), (700.0, 3.0), (1000.0, 12.0), (1300.0, 0.2), (1600.0, 0.07))


def _holds(first: float, every: float, low: float, high: float, seed: int) -> list[Hold]:
    """A hold of `low`–`high` s somewhere in each `every` s from `first` on."""
    rng = np.random.default_rng(seed)
    return [
        (float(t + rng.uniform(0.0, every / 3)), float(rng.uniform(low, high)))
        for t in np.arange(first, SESSION, every)
    ]


def user_side() -> Side:
    bursts = [*_holds(45.0, 70.0, 0.1, 0.8, seed=3), (299.95, 0.3)]  # one holds a marker
    return Side(
        rate=16000,
        chunk=320,
        stamps_end=True,
        markers=USER_MARKERS,
        scale=1 / (1 + 120e-6),
        jitter=(-0.030, 0.030),
        bursts=tuple(bursts),
        gaps=USER_GAPS,
        seed=11,
    )


def agent_side() -> Side:
    stalls = [*_holds(100.0, 150.0, 0.05, 0.4, seed=5), (904.9, 0.3)]
    return Side(
        rate=48000,
        chunk=960,
        stamps_end=False,
        markers=AGENT_MARKERS,
        scale=1 + 90e-6,
        jitter=(0.0, 0.004),
        bursts=tuple(stalls),
        seed=13,
    )


async def test_thirty_minute_session_stays_on_the_session_clock(tmp_path: Path) -> None:
    clock = FakeClock()
    recorder = SessionRecorder(tmp_path, clock=clock)
    calls, spent = play(
        clock,
        {
            "user": (user_side(), partial(recorder.inbound, "user")),
            "agent": (agent_side(), recorder.outbound),
        },
        until=SESSION,
    )
    recording = await recorder.close()

    user, _ = read_wav(recording.user.path)
    agent, _ = read_wav(recording.agent.path)
    stereo, rate = read_wav(recording.stereo.path)
    assert rate == RATE
    offsets = _marker_offsets(user[:, 0], agent[:, 0], stereo)
    worst = max(abs(v) for v in offsets.values())
    print(f"\n{calls} observer calls, {1e6 * spent / calls:.1f} µs each on average")
    print(
        f"worst marker offset {1000 * worst:.2f} ms; {recording.user_track}; "
        f"{recording.agent_track}"
    )
    assert worst <= TOLERANCE, {k: round(1000 * v, 2) for k, v in offsets.items()}

    for file in (recording.user, recording.agent, recording.stereo):
        assert abs(file.seconds - SESSION) <= TOLERANCE, file
    # The stereo file is the two mono files side by side, sample for sample.
    assert np.array_equal(stereo[:, 0], user[:, 0])
    assert np.array_equal(stereo[:, 1], agent[:, 0])
    _assert_markers_stay_in_their_channel(stereo)
    _assert_gaps_are_silent(user[:, 0])
    assert spent / calls < 500e-6  # observers stay cheap on the loop


def _marker_offsets(
    user: np.ndarray,
    agent: np.ndarray,
    stereo: np.ndarray,
) -> dict[str, float]:
    offsets: dict[str, float] = {}
    for marker in USER_MARKERS:
        offsets[f"user@{marker.time}"] = marker_offset(user, RATE, marker)
        offsets[f"left@{marker.time}"] = marker_offset(stereo[:, 0], RATE, marker)
    for marker in AGENT_MARKERS:
        offsets[f"agent@{marker.time}"] = marker_offset(agent, RATE, marker)
        offsets[f"right@{marker.time}"] = marker_offset(stereo[:, 1], RATE, marker)
    return offsets


def _assert_markers_stay_in_their_channel(stereo: np.ndarray) -> None:
    for markers, own, other in ((USER_MARKERS, 0, 1), (AGENT_MARKERS, 1, 0)):
        for marker in markers:
            _, here = marker_strength(stereo[:, own], RATE, marker)
            _, there = marker_strength(stereo[:, other], RATE, marker)
            assert there < 0.05 * here, marker


def _assert_gaps_are_silent(user: np.ndarray) -> None:
    for start, length in USER_GAPS:
        if length < 0.2:
            continue  # too short to hold silence beyond the ±20 ms alignment bound
        inside = user[round((start + 0.03) * RATE) : round((start + length - 0.03) * RATE)]
        assert not inside.any(), (start, length)


async def test_drift_is_corrected_even_when_the_audio_is_never_quiet(tmp_path: Path) -> None:
    # Loud hiss everywhere: no chunk can hide a correction, so drift is corrected at the
    # urgent bound instead. 400 ppm each way over 5 minutes: 120 ms to correct in each track.
    session = 300.0
    markers = tuple(Marker(t, 700.0 + 300.0 * i) for i, t in enumerate((60.0, 150.0, 290.0)))
    user = Side(
        16000, 320, True, markers, scale=1 / (1 + 400e-6), jitter=(-0.03, 0.03), seed=21, noise=3000
    )
    agent = Side(
        48000, 960, False, markers, scale=1 + 400e-6, jitter=(0.0, 0.004), seed=22, noise=3000
    )
    clock = FakeClock()
    recorder = SessionRecorder(tmp_path, clock=clock)
    play(
        clock,
        {"user": (user, partial(recorder.inbound, "user")), "agent": (agent, recorder.outbound)},
        until=session,
    )
    recording = await recorder.close()

    stereo, _ = read_wav(recording.stereo.path)
    for channel in (0, 1):
        for marker in markers:
            assert abs(marker_offset(stereo[:, channel], RATE, marker)) <= TOLERANCE
    assert recording.user_track.trimmed_seconds >= 0.1
    assert recording.agent_track.padded_seconds >= 0.1
