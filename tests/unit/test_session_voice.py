"""agent/session.py end to end over an in-memory transport and fakes: provider failures,
voice turns, the session's end (start-up, chat and barge-in: test_session.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from voxroom.agent.voice import APOLOGY
from voxroom.providers.base import ChatMessage, LLMRequest, ProviderError
from voxroom.providers.sharing import AGENTS_SPEAKING, SESSIONS_RUNNING

from .fakes import (
    QUIET,
    SPEECH,
    FakeAgent,
    FakeLLM,
    FakeSTT,
    FakeTTS,
    FakeVAD,
    eventually,
)
from .session_rig import (
    REPLY,
    MakeRig,
    Rig,
    is_agent,
    queue_whole_reply,
)


async def chat_into_an_apology(rig: Rig) -> tuple[dict[str, Any], dict[str, Any]]:
    """A chat whose reply fails: the error message and the apology's final caption."""
    rig.chat("hi")
    error = await rig.transport.wait_for(lambda m: m["type"] == "error")
    apology = await rig.transport.wait_for(
        lambda m: m["type"] == "transcript" and m["final"] and m["text"] == APOLOGY
    )
    await rig.idle()
    return error, apology


async def two_utterances(make_rig: MakeRig, texts: list[str], llm: FakeLLM, **turns: float) -> Rig:
    """A rig whose scripted VAD hears two utterances (blocks 0–20 and 21–41), transcribed
    as `texts` in order."""
    turn = [SPEECH] * 5 + [QUIET] * 16
    heard = iter(texts)
    stt = FakeSTT(lambda _: next(heard))
    return await make_rig(vad=FakeVAD(turn + turn), stt=stt, llm=llm, **turns)


# --- provider failures -------------------------------------------------------------------
async def test_llm_failure_sends_an_error_apologizes_and_the_next_chat_still_works(
    make_rig: MakeRig,
) -> None:
    llm = FakeLLM(ProviderError("model crashed"), "Second try works.")
    rig = await make_rig(llm=llm)

    error, apology = await chat_into_an_apology(rig)

    assert "model crashed" in error["message"]
    assert apology["role"] == "agent" and apology["turn_id"] == 1
    assert " ".join(rig.models.tts.texts) == APOLOGY  # spoken, not only shown
    failed = [m for m in rig.transport.transcripts("agent", final=True) if m["text"] == ""]
    assert [m["interrupted"] for m in failed] == [True]
    assert rig.session.state == "listening"
    # Nothing was said for "hi": the model is not told it answered.
    assert rig.session.context.history == [ChatMessage("user", "hi")]

    rig.chat("again")
    second_final = await rig.agent_final(turn_id=2)
    await rig.idle()

    assert second_final["text"] == "Second try works."
    assert second_final["interrupted"] is False
    assert rig.transport.states()[-3:] == ["thinking", "speaking", "listening"]


async def test_llm_failure_mid_reply_keeps_the_heard_part(make_rig: MakeRig) -> None:
    go_on = asyncio.Event()
    llm = FakeLLM(["First part is fine. ", go_on, ProviderError("connection reset")])
    rig = await make_rig(llm=llm)

    rig.chat("hi")
    await rig.transport.wait_for(is_agent)
    await eventually(lambda: not rig.sink.queue)  # the first sentence has played out
    go_on.set()  # then the stream breaks
    error = await rig.transport.wait_for(lambda m: m["type"] == "error")
    await rig.idle()

    assert "connection reset" in error["message"]
    assert rig.session.state == "listening"
    (final,) = rig.transport.transcripts("agent", final=True)  # no apology: the user heard some
    assert final["text"] == "First part is fine."
    assert final["interrupted"] is True
    assert rig.session.context.history == [
        ChatMessage("user", "hi"),
        ChatMessage("assistant", "First part is fine.", interrupted=True),
    ]


async def test_tts_failure_sends_an_error_and_shows_the_apology_as_text(
    make_rig: MakeRig,
) -> None:
    class BrokenTTS(FakeTTS):
        async def synthesize(self, text: str) -> AsyncIterator[Any]:
            raise ProviderError("voice missing")
            yield  # pragma: no cover

    rig = await make_rig(tts=BrokenTTS())

    error, caption = await chat_into_an_apology(rig)

    assert "voice missing" in error["message"]
    assert caption["interrupted"] is False
    assert rig.session.state == "listening"
    assert "speaking" not in rig.transport.states()


# --- voice turns -------------------------------------------------------------------------
async def test_voice_turn_uses_speculative_stt_and_reports_its_timings(
    make_rig: MakeRig,
) -> None:
    vad = FakeVAD([SPEECH] * 8 + [QUIET] * 16)
    stt = FakeSTT("What time is it?")
    rig = await make_rig(vad=vad, stt=stt)

    await rig.speak(0, 24)
    user = await rig.user_final(turn_id=1)
    metrics = await rig.transport.wait_for(lambda m: m["type"] == "turn_metrics")
    await rig.agent_final(turn_id=1)

    assert user["text"] == "What time is it?"
    assert len(stt.calls) == 1
    assert metrics["speculative_stt"] is True
    assert metrics["eot_wait_ms"] == pytest.approx(512.0)
    assert metrics["confirm_ms"] >= metrics["eot_wait_ms"]  # a finished sentence: at once
    assert metrics["total_ms"] >= metrics["eot_wait_ms"]
    assert rig.llm.requests[0].messages[-1] == ChatMessage("user", "What time is it?")


async def test_voice_resume_discards_the_speculative_transcript(make_rig: MakeRig) -> None:
    vad = FakeVAD([SPEECH] * 6 + [QUIET] * 5 + [SPEECH] * 3 + [QUIET] * 16)
    stt = FakeSTT(lambda audio: f"I said {audio.size // 512} blocks.", delay=0.1)
    rig = await make_rig(vad=vad, stt=stt)

    await rig.speak(0, 30)
    user = await rig.user_final(turn_id=1)
    metrics = await rig.transport.wait_for(lambda m: m["type"] == "turn_metrics")

    assert len(stt.cancelled) == 1  # the first speculative run, made stale by the resume
    assert user["text"] == "I said 19 blocks."  # the second one, over all the speech
    assert metrics["speculative_stt"] is True


async def test_trailing_off_turn_holds_its_reply_and_merges_when_the_user_goes_on(
    make_rig: MakeRig,
) -> None:
    llm = FakeLLM("Booking what exactly?", "A table for two, done.")
    rig = await two_utterances(
        make_rig,
        ["I would like to book a table and", "I would like to book a table for two."],
        llm,
        incomplete_turn_silence_ms=60_000,
    )

    await rig.speak(0, 21)  # "… and" — then a pause
    await eventually(lambda: len(llm.requests) == 1)  # the reply is prepared meanwhile
    await asyncio.sleep(0.02)
    assert rig.sink.pushed_seconds == 0  # … but held: not a sound
    assert "speaking" not in rig.transport.states()

    await rig.speak(21, 21)  # the user goes on
    final = await rig.agent_final(turn_id=1)
    await rig.idle()

    assert final["text"] == "A table for two, done."
    agent_texts = [m["text"] for m in rig.transport.transcripts("agent")]
    assert "Booking what exactly?" not in agent_texts  # the held reply left no trace
    assert rig.session.context.history == [
        ChatMessage("user", "I would like to book a table for two."),
        ChatMessage("assistant", "A table for two, done.", interrupted=False),
    ]


async def test_finished_turn_merges_when_the_user_goes_on_before_the_reply_is_heard(
    make_rig: MakeRig,
) -> None:
    """ "Wait." sounds finished, so its reply may play as soon as it is ready; but the user
    went on ("… stop, I have a question") before any of it was audible: one turn."""
    first_reply_may_go_on = asyncio.Event()
    llm = FakeLLM(["Sure", first_reply_may_go_on, " thing."], "Go ahead.")
    rig = await two_utterances(make_rig, ["Wait.", "Wait, stop, I have a question."], llm)

    await rig.speak(0, 21)
    await rig.user_final(turn_id=1)
    await eventually(lambda: len(llm.requests) == 1)  # confirmed, generating, not audible yet
    await rig.speak(21, 21)  # the user goes on
    first_reply_may_go_on.set()
    final = await rig.agent_final(turn_id=1)
    await rig.idle()

    assert final["text"] == "Go ahead."
    assert [m["text"] for m in rig.transport.transcripts("user")][-1] == (
        "Wait, stop, I have a question."
    )
    assert "Sure thing." not in [m["text"] for m in rig.transport.transcripts("agent")]
    assert rig.session.context.history == [
        ChatMessage("user", "Wait, stop, I have a question."),
        ChatMessage("assistant", "Go ahead.", interrupted=False),
    ]


async def test_empty_transcript_is_ignored(make_rig: MakeRig) -> None:
    vad = FakeVAD([SPEECH] * 5 + [QUIET] * 16)
    stt = FakeSTT("   ")
    rig = await make_rig(vad=vad, stt=stt)

    await rig.speak(0, 21)
    await eventually(lambda: len(stt.calls) == 1)
    await asyncio.sleep(0.02)

    assert rig.transport.transcripts("user") == []
    assert rig.llm.requests == []
    assert rig.session.state == "listening"


async def test_stt_failure_is_reported_and_the_session_goes_on(make_rig: MakeRig) -> None:
    vad = FakeVAD([SPEECH] * 5 + [QUIET] * 16)
    stt = FakeSTT(error=ProviderError("decoder died"))
    rig = await make_rig(vad=vad, stt=stt)

    await rig.speak(0, 21)
    error = await rig.transport.wait_for(lambda m: m["type"] == "error")
    rig.chat("typed instead")
    final = await rig.agent_final(turn_id=2)

    assert "decoder died" in error["message"]
    assert final["text"] == REPLY


async def test_push_to_talk_over_the_data_channel(make_rig: MakeRig) -> None:
    vad = FakeVAD(default=SPEECH)  # would start turns on its own in hands-free mode
    stt = FakeSTT()
    rig = await make_rig(vad=vad, stt=stt, autoplay=False)
    rig.chat("tell me a story")
    await queue_whole_reply(rig)
    rig.sink.play(2)

    rig.transport.deliver({"type": "mode", "mode": "push_to_talk"})
    await rig.speak(0, 3)  # not pressed: ignored
    rig.transport.deliver({"type": "push_to_talk", "action": "press"})  # stops the agent
    first_final = await rig.agent_final(turn_id=1)
    await rig.speak(3, 4)
    rig.transport.deliver({"type": "push_to_talk", "action": "release"})
    user = await rig.user_final(turn_id=2)

    assert first_final["interrupted"] is True
    assert user["text"] == "blocks 3-6."
    assert vad.streams[0].blocks == 0


# --- lifecycle ---------------------------------------------------------------------------
async def test_end_of_inbound_audio_ends_the_session_and_stops_the_reply(
    make_rig: MakeRig,
) -> None:
    exited = asyncio.Event()

    class Tracked(FakeAgent):
        async def on_exit(self) -> None:
            exited.set()

    rig = await make_rig(agent=Tracked(), autoplay=False)
    rig.chat("hi")
    await queue_whole_reply(rig)

    rig.transport.feed.end()  # the peer left
    await asyncio.wait_for(rig.task, 2)

    assert exited.is_set()
    assert rig.transport.transcripts("agent", final=True)[-1]["interrupted"] is True
    assert rig.sink.queue == type(rig.sink.queue)()


async def test_no_reply_starts_after_the_session_ended(make_rig: MakeRig) -> None:
    stopped = asyncio.Event()

    class SlowToStop(FakeLLM):
        """Like a local model: stopping generation takes a moment (the worker thread)."""

        async def stream(self, request: LLMRequest) -> AsyncIterator[str]:
            self.requests.append(request)
            try:
                yield "Hello there. "
                await asyncio.Event().wait()  # still generating
            finally:
                await stopped.wait()

    llm = SlowToStop()
    rig = await make_rig(llm=llm, autoplay=False)
    events: list[str] = []
    rig.session.log.subscribe(lambda event: events.append(event.type))
    rig.chat("first")
    await eventually(lambda: len(rig.sink.queue) >= 3)

    rig.chat("second")  # has to wait for the first reply to stop
    await asyncio.sleep(0.01)
    rig.transport.feed.end()  # meanwhile the peer leaves
    await asyncio.sleep(0.05)
    stopped.set()  # the first reply's generation stops
    await asyncio.wait_for(rig.task, 2)
    await asyncio.sleep(0.05)

    assert events[-1] == "session_ended", events[events.index("session_ended") :]
    assert len(llm.requests) == 1


async def test_a_session_counts_as_a_call_and_as_speaking_for_the_llm_threads(
    make_rig: MakeRig,
) -> None:
    calls, speaking = SESSIONS_RUNNING.count, AGENTS_SPEAKING.count
    rig = await make_rig(autoplay=False)  # the reply's audio stays queued: it keeps speaking
    await eventually(lambda: SESSIONS_RUNNING.count == calls + 1)

    rig.chat("hi")
    await queue_whole_reply(rig)
    rig.sink.play(1)  # its first sentence starts playing
    assert rig.session.state == "speaking" and AGENTS_SPEAKING.count == speaking + 1

    rig.transport.feed.end()  # the call ends mid-reply
    await asyncio.wait_for(rig.task, 3)
    assert (SESSIONS_RUNNING.count, AGENTS_SPEAKING.count) == (calls, speaking)
