"""agent/listener.py: VAD → turn-taking → (speculative) transcription, with fakes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from voxroom.agent.listener import PREROLL_BLOCKS, HeardSpeech, SpeechListener
from voxroom.agent.timing import TurnTimings
from voxroom.config import TurnConfig
from voxroom.providers.base import ProviderError, Transcript

from .fakes import (
    QUIET,
    SPEECH,
    TIMELINE,
    AudioFeed,
    FakeSTT,
    FakeVAD,
    block,
    block_ids,
    eventually,
)


class Recorder:
    """ListenerEvents that writes everything down; replies count as heard unless told."""

    def __init__(self) -> None:
        self.counter = 0
        self.log: list[tuple[object, ...]] = []
        self.turns: list[tuple[str, TurnTimings]] = []
        self.errors: list[str] = []
        self.transcribed: list[tuple[int, str, str]] = []
        self.heard = True

    def kinds(self) -> list[object]:
        return [entry[0] for entry in self.log]

    def new_turn_id(self) -> int:
        self.counter += 1
        return self.counter

    def on_voice_onset(self) -> None:
        self.log.append(("onset",))

    def on_voice_lost(self) -> None:
        self.log.append(("lost",))

    def on_speech_start(self, turn_id: int) -> None:
        self.log.append(("speech_start", turn_id))

    def on_long_speech(self, turn_id: int) -> None:
        self.log.append(("long_speech", turn_id))

    def on_interim(self, turn_id: int, text: str) -> None:
        self.log.append(("interim", turn_id, text))

    def on_transcribed(
        self, turn_id: int, transcript: Transcript, duration_s: float, purpose: str
    ) -> None:
        self.transcribed.append((turn_id, transcript.text, purpose))

    async def on_user_turn(
        self, text: str, timings: TurnTimings, heard: HeardSpeech | None = None
    ) -> None:
        self.log.append(("turn", timings.turn_id, text))
        self.turns.append((text, timings))

    def on_turn_confirmed(self, turn_id: int) -> None:
        self.log.append(("confirmed", turn_id))

    def reply_heard(self, turn_id: int) -> bool:
        return self.heard

    def on_turn_merged(self, turn_id: int) -> None:
        self.log.append(("merged", turn_id))

    def on_error(self, message: str) -> None:
        self.log.append(("error", message))
        self.errors.append(message)


class Harness:
    def __init__(self, probabilities: list[float], stt: FakeSTT, **turns: float) -> None:
        self.vad = FakeVAD(probabilities)
        self.stt = stt
        self.events = Recorder()
        self.listener = SpeechListener(
            self.vad, stt, TurnConfig(**{**TIMELINE, **turns}), self.events
        )
        self.feed = AudioFeed()
        self.task = asyncio.create_task(self.listener.run(self.feed.chunks()))

    async def blocks(self, first: int, count: int) -> None:
        await self.feed.send(block(i) for i in range(first, first + count))

    async def stop(self) -> None:
        self.feed.end()
        await asyncio.wait_for(self.task, 2)


@pytest.fixture
async def harnesses() -> AsyncIterator[list[Harness]]:
    made: list[Harness] = []
    yield made
    for harness in made:
        if not harness.task.done():
            await harness.stop()


def make(harnesses: list[Harness], probabilities: list[float], stt: FakeSTT, **turns: float):
    harness = Harness(probabilities, stt, **turns)
    harnesses.append(harness)
    return harness


# --- speculative transcription -----------------------------------------------------------
async def test_turn_uses_the_speculative_transcript_started_at_the_pause(harnesses) -> None:
    # blocks 0-2 quiet, 3-12 speech (start at 7), 13-28 quiet (pause at 17, end at 28)
    stt = FakeSTT()
    h = make(harnesses, [QUIET] * 3 + [SPEECH] * 10 + [QUIET] * 16, stt)

    await h.blocks(0, 29)
    await eventually(lambda: h.events.turns)

    text, timings = h.events.turns[0]
    assert len(stt.calls) == 1  # only the speculative run, no second transcription
    assert block_ids(stt.calls[0]) == list(range(0, 18))  # preroll + speech up to the pause
    assert h.events.transcribed == [(1, "blocks 0-17.", "speculative")]
    assert text == "blocks 0-17."
    assert timings.speculative_stt is True
    assert timings.turn_id == 1
    assert h.events.log[:2] == [("onset",), ("speech_start", 1)]
    # The end-of-turn wait is the VAD silence: 16 blocks of 32 ms.
    assert timings.end_of_turn - timings.speech_end == pytest.approx(0.512)
    assert timings.transcript_ready >= timings.end_of_turn


async def test_resume_discards_the_running_speculative_transcription(harnesses) -> None:
    # start at 4, pause at 10, resume at 11, pause again at 18, end at 29
    stt = FakeSTT(delay=0.1)
    probabilities = [SPEECH] * 6 + [QUIET] * 5 + [SPEECH] * 3 + [QUIET] * 16
    h = make(harnesses, probabilities, stt)

    await h.blocks(0, 30)
    await eventually(lambda: h.events.turns)

    text, timings = h.events.turns[0]
    assert [block_ids(c)[-1] for c in stt.calls] == [10, 18]
    assert [block_ids(c)[-1] for c in stt.cancelled] == [10]  # the stale one was stopped
    assert text == "blocks 0-18."  # includes the speech after the resume
    assert timings.speculative_stt is True


async def test_resume_discards_a_finished_speculative_transcript(harnesses) -> None:
    stt = FakeSTT()  # instant: the first speculative result is ready before the resume
    probabilities = [SPEECH] * 6 + [QUIET] * 5 + [SPEECH] * 3 + [QUIET] * 16
    h = make(harnesses, probabilities, stt)

    await h.blocks(0, 11)
    await eventually(lambda: len(stt.calls) == 1)
    await asyncio.sleep(0.01)
    await h.blocks(11, 19)
    await eventually(lambda: h.events.turns)

    assert h.events.turns[0][0] == "blocks 0-18."
    assert len(stt.calls) == 2


async def test_preroll_is_limited_to_the_last_blocks_before_onset(harnesses) -> None:
    stt = FakeSTT()
    h = make(harnesses, [QUIET] * 20 + [SPEECH] * 5 + [QUIET] * 16, stt)

    await h.blocks(0, 41)
    await eventually(lambda: h.events.turns)

    # Speech start is confirmed at block 24; the preroll holds the blocks up to it.
    assert block_ids(stt.calls[0])[0] == 24 - PREROLL_BLOCKS + 1
    assert block_ids(stt.calls[0])[-1] == 29


async def test_recognizer_failure_is_reported_as_an_error(harnesses) -> None:
    stt = FakeSTT(error=ProviderError("whisper exploded"))
    h = make(harnesses, [SPEECH] * 5 + [QUIET] * 16, stt)

    await h.blocks(0, 21)
    await eventually(lambda: h.events.errors)

    assert h.events.errors == ["speech recognition failed: whisper exploded"]
    assert h.events.turns == []


# --- onsets and long speech --------------------------------------------------------------
async def test_blips_are_onsets_that_get_lost_and_never_reach_the_recognizer(harnesses) -> None:
    stt = FakeSTT()
    h = make(harnesses, ([SPEECH] * 3 + [QUIET] * 3) * 3, stt)

    await h.blocks(0, 18)
    await asyncio.sleep(0.01)

    assert h.events.log == [("onset",), ("lost",)] * 3
    assert stt.calls == []


async def test_long_speech_is_reported_once_per_turn(harnesses) -> None:
    stt = FakeSTT()
    # interruption after 320 ms = 10 voiced blocks
    h = make(harnesses, [SPEECH] * 20 + [QUIET] * 16, stt, interruption_speech_ms=320)

    await h.blocks(0, 36)
    await eventually(lambda: h.events.turns)

    assert h.events.kinds().count("long_speech") == 1
    assert h.events.log.index(("long_speech", 1)) > h.events.log.index(("speech_start", 1))


async def test_short_turns_are_not_long_speech(harnesses) -> None:
    stt = FakeSTT()
    h = make(harnesses, [SPEECH] * 8 + [QUIET] * 16, stt, interruption_speech_ms=1000)

    await h.blocks(0, 24)
    await eventually(lambda: h.events.turns)

    assert "long_speech" not in h.events.kinds()


async def test_audio_in_odd_chunk_sizes_is_sliced_into_vad_blocks(harnesses) -> None:
    stt = FakeSTT()
    h = make(harnesses, [SPEECH] * 6 + [QUIET] * 16, stt)
    audio = np.concatenate([block(i) for i in range(22)])

    await h.feed.send(audio[i : i + 700] for i in range(0, audio.size, 700))
    await eventually(lambda: h.events.turns)

    assert h.vad.streams[0].blocks == 22
    assert h.events.turns[0][0] == "blocks 0-10."


# --- provisional end of turn: confirmation and merging -----------------------------------
async def test_a_finished_sentence_confirms_the_turn_at_once(harnesses) -> None:
    stt = FakeSTT("What time is it?")
    h = make(harnesses, [SPEECH] * 5 + [QUIET] * 16, stt)

    await h.blocks(0, 21)
    await eventually(lambda: ("confirmed", 1) in h.events.log)

    kinds = h.events.kinds()
    assert kinds.index("turn") < kinds.index("confirmed")
    assert h.events.turns[0][1].confirmed is not None


async def test_a_trailing_off_turn_is_confirmed_only_after_the_longer_silence(harnesses) -> None:
    stt = FakeSTT("I would like to book a table and")
    h = make(harnesses, [SPEECH] * 5 + [QUIET] * 40, stt, incomplete_turn_silence_ms=800)

    await h.blocks(0, 21)  # the turn ends (provisionally) after 512 ms of silence
    await eventually(lambda: h.events.turns)
    await h.blocks(21, 1)
    assert "confirmed" not in h.events.kinds()

    await asyncio.sleep(0.35)  # 512 ms + 350 ms > 800 ms of silence, on the wall clock
    await h.blocks(22, 1)

    assert ("confirmed", 1) in h.events.log


async def test_voice_coming_back_holds_an_unfinished_turn_past_the_longer_silence(
    harnesses,
) -> None:
    # bench turns 2026-12-05 18:50: "I would like..." was released 1.5 s after the speech
    # ended, while "a cup of green tea" had begun: the reply started over the user's words.
    stt = FakeSTT("I would like...")
    onset_only = [SPEECH] * 2  # voice, not yet long enough to be a turn
    h = make(
        harnesses, [SPEECH] * 5 + [QUIET] * 16 + onset_only + [QUIET] * 4, stt,
        incomplete_turn_silence_ms=800,
    )  # fmt: skip

    await h.blocks(0, 21)
    await eventually(lambda: h.events.turns)
    await asyncio.sleep(0.35)  # 512 ms + 350 ms > 800 ms of silence, on the wall clock
    await h.blocks(21, 2)  # the user's voice is back

    assert "confirmed" not in h.events.kinds()
    await h.blocks(23, 1)  # gone again (a cough): the silence rule applies
    assert ("confirmed", 1) in h.events.log


async def test_speech_resuming_before_the_reply_plays_continues_the_same_turn(harnesses) -> None:
    stt = FakeSTT()
    turn = [SPEECH] * 5 + [QUIET] * 16
    h = make(harnesses, turn + turn, stt, incomplete_turn_silence_ms=60_000)
    h.events.heard = False  # the reply for turn 1 has not started playing

    await h.blocks(0, 42)
    await eventually(lambda: len(h.events.turns) == 2)

    assert ("merged", 1) in h.events.log
    assert [t.turn_id for _, t in h.events.turns] == [1, 1]
    # The merged turn is transcribed from both parts: the first utterance and the new speech.
    assert h.events.turns[1][0] == "blocks 0-30."
    assert h.events.counter == 1


async def test_speech_after_the_reply_played_is_a_new_turn(harnesses) -> None:
    stt = FakeSTT()
    turn = [SPEECH] * 5 + [QUIET] * 16
    h = make(harnesses, turn + turn, stt)

    await h.blocks(0, 42)
    await eventually(lambda: len(h.events.turns) == 2)

    assert "merged" not in h.events.kinds()
    assert [t.turn_id for _, t in h.events.turns] == [1, 2]
    # The second turn's preroll starts after the first turn's audio: nothing leaks across.
    assert [text for text, _ in h.events.turns] == ["blocks 0-9.", "blocks 21-30."]


# --- interim captions --------------------------------------------------------------------
async def test_interim_captions_while_the_user_speaks(harnesses) -> None:
    stt = FakeSTT()
    # interim every 320 ms = 10 blocks of new audio; speech start at block 4 (5 blocks held)
    h = make(harnesses, [SPEECH] * 30 + [QUIET] * 16, stt, interim_interval_ms=320)

    await h.blocks(0, 46)
    await eventually(lambda: h.events.turns)

    interims = [entry for entry in h.events.log if entry[0] == "interim"]
    assert interims[:2] == [("interim", 1, "blocks 0-14."), ("interim", 1, "blocks 0-24.")]
    assert ("turn", 1, "blocks 0-34.") in h.events.log
    turn_at = h.events.log.index(("turn", 1, "blocks 0-34."))
    assert "interim" not in [entry[0] for entry in h.events.log[turn_at:]]


async def test_no_interim_before_the_user_has_spoken_interim_after_ms(harnesses) -> None:
    # 30 blocks of speech (~0.96 s), interims due every 10 blocks of new audio
    runs = {
        after_ms: make(
            harnesses,
            [SPEECH] * 30 + [QUIET] * 16,
            FakeSTT(),
            interim_interval_ms=320,
            interim_after_ms=after_ms,
        )
        for after_ms in (0, 800, 5000)
    }
    for harness in runs.values():
        await harness.blocks(0, 46)
        await eventually(lambda harness=harness: harness.events.turns)

    interims = {
        after_ms: [entry[2] for entry in harness.events.log if entry[0] == "interim"]
        for after_ms, harness in runs.items()
    }
    assert interims == {
        0: ["blocks 0-14.", "blocks 0-24.", "blocks 0-35."],
        800: ["blocks 0-24.", "blocks 0-35."],  # from 25 blocks (800 ms) of speech on
        5000: [],
    }
    assert [text for text, _ in runs[5000].events.turns] == ["blocks 0-34."]  # final unaffected


async def test_interims_are_skipped_while_the_recognizer_is_busy(harnesses) -> None:
    stt = FakeSTT(delay=10.0)  # the first interim never finishes
    h = make(harnesses, [SPEECH] * 40, stt, interim_interval_ms=320)

    await h.blocks(0, 40)

    assert len(stt.calls) == 1  # later interims waited for an idle recognizer: none started


# --- push-to-talk ------------------------------------------------------------------------
async def test_push_to_talk_records_exactly_while_pressed(harnesses) -> None:
    stt = FakeSTT("and then")  # unfinished words, but a release is explicit
    h = make(harnesses, [], stt)
    h.listener.set_mode("push_to_talk")

    await h.blocks(0, 5)  # not pressed: ignored
    h.listener.press()
    h.listener.press()  # a repeated press does not restart the turn
    await h.blocks(5, 7)
    h.listener.release()
    await eventually(lambda: ("confirmed", 1) in h.events.log)
    await h.blocks(12, 3)  # released: ignored again

    assert block_ids(stt.calls[0]) == list(range(5, 12))
    assert h.vad.streams[0].blocks == 0  # VAD is not consulted in push-to-talk
    assert h.events.log[:2] == [("speech_start", 1), ("long_speech", 1)]
    assert h.events.turns[0][1].speculative_stt is False
    assert len(stt.calls) == 1


async def test_a_press_in_hands_free_mode_makes_an_explicit_turn(harnesses) -> None:
    """A room with the push-to-talk policy transcribes everyone hands-free and answers the
    turns made with the button: a press works in either mode, bypassing VAD until release."""
    stt = FakeSTT("and then")
    h = make(harnesses, [QUIET] * 20, stt)

    await h.blocks(0, 2)
    h.listener.press()
    await h.blocks(2, 6)
    h.listener.release()
    await eventually(lambda: ("confirmed", 1) in h.events.log)

    assert block_ids(stt.calls[0]) == list(range(2, 8))  # VAD heard silence: the press rules
    assert h.events.turns[0][1].explicit is True


async def test_switching_mode_abandons_a_turn_in_progress(harnesses) -> None:
    h = make(harnesses, [SPEECH] * 8 + [QUIET] * 30, FakeSTT())

    await h.blocks(0, 8)
    h.listener.set_mode("push_to_talk")
    h.listener.set_mode("hands_free")
    await h.blocks(8, 30)
    await asyncio.sleep(0.01)

    assert h.events.turns == []


async def test_closing_the_audio_stream_stops_pending_work(harnesses) -> None:
    stt = FakeSTT(delay=10.0)
    h = make(harnesses, [SPEECH] * 5 + [QUIET] * 5, stt)

    await h.blocks(0, 10)  # the pause started a (slow) speculative transcription
    await h.stop()

    assert len(stt.cancelled) == 1
