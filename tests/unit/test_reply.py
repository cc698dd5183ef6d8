"""agent/reply.py: text stream → sentences → TTS → sink, with markers for what was heard."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from voxroom.agent.reply import Reply, single_text
from voxroom.agent.timing import TurnTimings, now
from voxroom.providers.base import ProviderError

from .fakes import FakeSink, FakeTTS, eventually


async def tokens(text: str) -> AsyncIterator[str]:
    for word in text.split(" "):
        await asyncio.sleep(0)
        yield word + " "


def make_reply(
    text: AsyncIterator[str], sink: FakeSink, tts: FakeTTS | None = None, released: bool = True
) -> tuple[Reply, list[str], list[tuple[str, float]]]:
    played: list[str] = []
    synthesized: list[tuple[str, float]] = []
    reply = Reply(
        text=text,
        tts=tts or FakeTTS(),
        sink=sink,
        timings=TurnTimings(1, end_of_turn=now()),
        on_sentence_played=played.append,
        on_synthesized=lambda _provider, sentence, audio_s, _took: synthesized.append(
            (sentence, audio_s)
        ),
    )
    if released:
        reply.release()
    return reply, played, synthesized


TWO = "One two three. Four five six seven."


async def test_reply_plays_every_sentence_and_returns_when_played_out() -> None:
    sink = FakeSink(autoplay=False)
    reply, played, synthesized = make_reply(tokens(TWO), sink)

    task = asyncio.create_task(reply.run())
    await eventually(lambda: len(sink.queue) == 7)  # 2 × (marker + 2 chunks) + end marker
    await asyncio.sleep(0.01)
    assert not task.done()  # generated, but not yet played
    assert reply.generated == ["One two three.", "Four five six seven."]
    assert reply.spoken == [] and played == []

    sink.play_all()
    await asyncio.wait_for(task, 1)

    assert played == ["One two three.", "Four five six seven."]
    assert reply.heard_text == reply.started_text == TWO
    assert synthesized == [
        ("One two three.", pytest.approx(0.2)),
        ("Four five six seven.", pytest.approx(0.2)),
    ]


async def test_a_held_reply_synthesizes_ahead_but_plays_nothing_until_released() -> None:
    sink = FakeSink(autoplay=True)
    tts = FakeTTS()
    reply, played, _ = make_reply(tokens(TWO), sink, tts, released=False)

    task = asyncio.create_task(reply.run())
    await eventually(lambda: len(tts.texts) == 1)
    await asyncio.sleep(0.02)

    assert sink.pushed_seconds == 0 and played == []
    reply.release()
    await asyncio.wait_for(task, 1)
    assert played == ["One two three.", "Four five six seven."]
    assert sink.played_seconds == pytest.approx(0.4)


async def test_a_sentence_counts_as_started_only_when_its_audio_starts() -> None:
    sink = FakeSink(autoplay=False)
    reply, played, _ = make_reply(tokens(TWO), sink)
    task = asyncio.create_task(reply.run())
    await eventually(lambda: len(sink.queue) == 7)

    sink.play(1)  # first chunk of the first sentence
    assert played == ["One two three."]
    assert reply.playing
    sink.play(1)
    assert played == ["One two three."]  # the second sentence's marker is not reached yet
    sink.play(1)
    assert played == ["One two three.", "Four five six seven."]

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_heard_text_keeps_the_played_share_of_a_cut_sentence() -> None:
    sink = FakeSink(autoplay=False)
    reply, _, _ = make_reply(tokens(TWO), sink)
    task = asyncio.create_task(reply.run())
    await eventually(lambda: len(sink.queue) == 7)

    sink.play(3)  # sentence 1 in full, half of sentence 2's audio
    sink.clear()

    assert reply.started_text == TWO  # the caption shows the sentence that started
    assert reply.heard_text == "One two three. Four five"  # but only half of it was heard
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_markers_are_queued_with_audio_behind_them() -> None:
    sink = FakeSink(autoplay=False)
    reply, _, _ = make_reply(single_text("Just one sentence here."), sink)
    task = asyncio.create_task(reply.run())
    await eventually(lambda: len(sink.queue) == 4)

    assert sink.kinds() == ["mark", "audio", "audio", "mark"]
    sink.play_all()
    await asyncio.wait_for(task, 1)


async def test_timings_are_filled_in_stage_order() -> None:
    sink = FakeSink(autoplay=True)
    reply, _, _ = make_reply(tokens("Hello there my friend."), sink)

    await asyncio.wait_for(reply.run(), 1)

    t = reply.timings
    stamps = [
        t.end_of_turn,
        t.llm_request,
        t.llm_first_token,
        t.first_sentence,
        t.tts_first_chunk,
        t.first_audio_sent,
    ]
    assert None not in stamps
    assert stamps == sorted(stamps)
    assert t.metrics().total_ms is not None


async def test_tts_failure_fails_the_reply() -> None:
    class BrokenTTS(FakeTTS):
        async def synthesize(self, text: str) -> AsyncIterator:
            raise ProviderError("no voice")
            yield  # pragma: no cover

    reply, _, _ = make_reply(tokens("Hello there."), FakeSink(), BrokenTTS())

    with pytest.raises(BaseExceptionGroup) as caught:
        await asyncio.wait_for(reply.run(), 1)

    assert caught.group_contains(ProviderError, match="no voice")


async def test_text_failure_fails_the_reply_after_queued_sentences() -> None:
    async def failing() -> AsyncIterator[str]:
        yield "It started well. "
        yield "And then "
        raise ProviderError("stream cut")

    reply, _, _ = make_reply(failing(), FakeSink(autoplay=True))

    with pytest.raises(BaseExceptionGroup) as caught:
        await asyncio.wait_for(reply.run(), 1)

    assert caught.group_contains(ProviderError, match="stream cut")
    assert reply.generated == ["It started well."]


async def test_empty_text_stream_finishes_without_audio() -> None:
    async def nothing() -> AsyncIterator[str]:
        return
        yield  # pragma: no cover

    sink = FakeSink(autoplay=True)
    reply, played, _ = make_reply(nothing(), sink)

    await asyncio.wait_for(reply.run(), 1)

    assert reply.generated == [] and played == []
    assert sink.pushed_seconds == 0


async def test_single_text_yields_the_text_once() -> None:
    assert [part async for part in single_text("Hi there.")] == ["Hi there."]


async def test_a_reply_played_to_the_end_is_heard_whole_through_the_resampling_track() -> None:
    """The real track resamples each TTS chunk (22.05 → 48 kHz) and rounds its length, so the
    audio that goes out can be a few samples short of the sentence's own length: a sentence
    played to its end must still count whole (the last word was being dropped)."""
    from voxroom.transport.webrtc.outbound import PacedAudioTrack

    track = PacedAudioTrack()
    tts = FakeTTS(chunks=3, chunk_s=0.0333)  # 734.3 samples: every chunk rounds
    played: list[str] = []
    reply = Reply(
        text=single_text("Paris is the capital of France."),
        tts=tts,
        sink=track,
        timings=TurnTimings(1, end_of_turn=now()),
        on_sentence_played=played.append,
        on_synthesized=lambda *_: None,
    )
    reply.release()

    async def play() -> None:
        while True:
            await track.next_chunk()

    player = asyncio.create_task(play())
    try:
        await asyncio.wait_for(reply.run(), 5)
    finally:
        player.cancel()
        track.stop()
    assert reply.heard_text == "Paris is the capital of France."
