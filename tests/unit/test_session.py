"""agent/session.py (+ listener, reply) end to end over an in-memory transport and fakes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from voxroom.agent.agent import Agent
from voxroom.agent.context import UserTurn
from voxroom.agent.session import APOLOGY, AgentSession
from voxroom.config import TurnConfig, VoxroomConfig
from voxroom.providers.base import ChatMessage, LLMRequest, ProviderError
from voxroom.providers.factory import ModelSet

from .fakes import (
    FakeAgent,
    FakeLLM,
    FakeSink,
    FakeSTT,
    FakeTransport,
    FakeTTS,
    FakeVAD,
    block,
    eventually,
    fake_models,
)

REPLY = "Hello there. How are you today? I am fine."
SENTENCES = ["Hello there.", "How are you today?", "I am fine."]
SPEECH, QUIET = 0.9, 0.0
# Speech start after 5 blocks, speculative STT after 5 silent blocks, end after 16 (512 ms).
TIMELINE = {
    "onset_ms": 32,
    "min_speech_ms": 160,
    "speculative_stt_after_ms": 160,
    "end_of_turn_silence_ms": 500,
    "interim_interval_ms": 0,
}


@dataclass
class Rig:
    session: AgentSession
    transport: FakeTransport
    models: ModelSet
    task: asyncio.Task[None]

    @property
    def sink(self) -> FakeSink:
        assert isinstance(self.transport.audio_out, FakeSink)
        return self.transport.audio_out

    @property
    def llm(self) -> FakeLLM:
        assert isinstance(self.models.llm, FakeLLM)
        return self.models.llm

    def chat(self, text: str) -> None:
        self.transport.deliver({"type": "chat", "text": text})

    async def speak(self, first: int, count: int) -> None:
        """Feed `count` inbound audio blocks (the scripted VAD decides what they are)."""
        await self.transport.feed.send(block(i) for i in range(first, first + count))

    def sent_after(self, index: int) -> list[dict[str, Any]]:
        return self.transport.sent[index:]

    async def agent_final(self, turn_id: int) -> dict[str, Any]:
        return await self.transport.wait_for(
            lambda m: (
                m["type"] == "transcript"
                and m["role"] == "agent"
                and m["final"]
                and m["turn_id"] == turn_id
            )
        )

    async def user_final(self, turn_id: int) -> dict[str, Any]:
        return await self.transport.wait_for(lambda m: is_user_final(m) and m["turn_id"] == turn_id)

    async def idle(self) -> None:
        """Listening again with no reply in flight."""
        await eventually(lambda: self.session.state == "listening" and not self._busy())

    def _busy(self) -> bool:
        task = self.session._reply_task
        return task is not None and not task.done()


MakeRig = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def make_rig() -> AsyncIterator[MakeRig]:
    rigs: list[Rig] = []

    async def make(
        *,
        llm: FakeLLM | None = None,
        stt: FakeSTT | None = None,
        vad: FakeVAD | None = None,
        tts: FakeTTS | None = None,
        autoplay: bool = True,
        agent: Agent | None = None,
        **turns: float,
    ) -> Rig:
        transport = FakeTransport(FakeSink(autoplay=autoplay))
        models = fake_models(vad=vad, stt=stt, llm=llm or FakeLLM(REPLY), tts=tts)
        config = VoxroomConfig(turns=TurnConfig(**{**TIMELINE, **turns}))
        session = AgentSession("sess-1", agent or FakeAgent(), transport, models, config)
        task = asyncio.create_task(session.run())
        rig = Rig(session, transport, models, task)
        rigs.append(rig)
        await transport.wait_for(lambda m: m["type"] == "state")
        return rig

    yield make
    for rig in rigs:
        rig.transport.feed.end()
        await asyncio.wait_for(rig.task, 3)
        rig.sink.close()


def is_user_final(m: dict[str, Any]) -> bool:
    return m["type"] == "transcript" and m["role"] == "user" and m["final"]


def is_agent(m: dict[str, Any]) -> bool:
    return m["type"] == "transcript" and m["role"] == "agent"


async def queue_whole_reply(rig: Rig, items: int = 10) -> None:
    """Wait until a reply is fully generated and queued (default: 3 × (marker + 2 chunks) +
    the end marker)."""
    await eventually(lambda: len(rig.sink.queue) == items)


# --- start-up ----------------------------------------------------------------------------
async def test_session_announces_itself_then_listens(make_rig: MakeRig) -> None:
    rig = await make_rig()

    assert rig.transport.sent[:2] == [
        {"type": "session", "session_id": "sess-1", "agent": "fake agent"},
        {"type": "state", "state": "listening"},
    ]


async def test_greeting_is_spoken_on_enter_but_not_added_to_the_context(
    make_rig: MakeRig,
) -> None:
    class Greeter(FakeAgent):
        greeting = "Welcome to the test. Ask me anything."

    rig = await make_rig(agent=Greeter())

    final = await rig.agent_final(turn_id=1)

    assert final["text"] == "Welcome to the test. Ask me anything."
    assert rig.models.tts.texts == ["Welcome to the test.", "Ask me anything."]
    assert rig.llm.requests == []
    assert rig.session.context.history == []


# --- chat turn ---------------------------------------------------------------------------
async def test_chat_gets_a_spoken_reply_with_captions_state_and_metrics(
    make_rig: MakeRig,
) -> None:
    rig = await make_rig()
    start = len(rig.transport.sent)

    rig.chat("hi")
    final = await rig.agent_final(turn_id=1)
    await rig.idle()
    sent = rig.sent_after(start)

    assert sent[0] == {
        "type": "transcript",
        "role": "user",
        "final": True,
        "text": "hi",
        "turn_id": 1,
    }
    assert [m["state"] for m in sent if m["type"] == "state"] == [
        "thinking",
        "speaking",
        "listening",
    ]
    # Agent captions grow sentence by sentence as each starts playing, then one final.
    agent = [m for m in sent if is_agent(m)]
    assert [m["text"] for m in agent if not m["final"]] == [
        "Hello there.",
        "Hello there. How are you today?",
        REPLY,
    ]
    assert final["text"] == REPLY
    assert final.get("interrupted") is False
    assert rig.models.tts.texts == SENTENCES
    # Metrics go out with the first audio, before the first agent caption.
    kinds = [m["type"] for m in sent]
    metrics = sent[kinds.index("turn_metrics")]
    assert kinds.index("turn_metrics") < sent.index(agent[0])
    assert metrics["turn_id"] == 1
    assert metrics["speculative_stt"] is False
    assert 0 <= metrics["total_ms"] < 2000
    assert "eot_wait_ms" not in metrics  # typed turn: no VAD wait
    assert rig.sink.pushed_seconds == pytest.approx(0.6, abs=0.01)
    assert rig.sink.played_seconds == pytest.approx(0.6, abs=0.01)


async def test_chat_turn_is_sent_to_the_llm_with_instructions_and_recorded(
    make_rig: MakeRig,
) -> None:
    rig = await make_rig()

    rig.chat("hi")
    await rig.agent_final(turn_id=1)
    await rig.idle()

    (request,) = rig.llm.requests
    assert request.messages == [ChatMessage("system", "Be brief."), ChatMessage("user", "hi")]
    assert request.max_tokens == VoxroomConfig().models.llm_max_tokens
    assert rig.session.context.history == [
        ChatMessage("user", "hi"),
        ChatMessage("assistant", REPLY, interrupted=False),
    ]


async def test_agent_hook_context_reaches_the_llm_for_that_turn_only(make_rig: MakeRig) -> None:
    class Helpful(FakeAgent):
        async def on_user_turn(self, turn: UserTurn) -> None:
            turn.add_context("The office opens at nine.")

    rig = await make_rig(agent=Helpful(), llm=FakeLLM("It opens at nine.", "Sure thing."))

    rig.chat("When does it open?")
    await rig.agent_final(turn_id=1)
    await rig.idle()
    rig.chat("Thanks")
    await rig.agent_final(turn_id=2)

    first, second = rig.llm.requests
    assert ChatMessage("system", "Context: The office opens at nine.") in first.messages
    assert first.messages[-1] == ChatMessage("user", "When does it open?")
    assert [m.content for m in second.messages].count("Context: The office opens at nine.") == 1


async def test_invalid_client_message_is_answered_with_an_error_and_ignored(
    make_rig: MakeRig,
) -> None:
    rig = await make_rig()

    rig.transport.deliver({"type": "dance", "style": "tango"})
    error = await rig.transport.wait_for(lambda m: m["type"] == "error")

    assert error["message"].startswith("invalid message")
    assert rig.session.state == "listening"
    assert rig.llm.requests == []


# --- barge-in ----------------------------------------------------------------------------
async def test_voice_onset_pauses_and_long_speech_interrupts_keeping_what_was_heard(
    make_rig: MakeRig,
) -> None:
    rig = await make_rig(autoplay=False, llm=FakeLLM(REPLY, "Okay, I stop."))
    rig.chat("hi")
    await queue_whole_reply(rig)
    assert rig.session.state == "thinking"  # nothing played yet

    rig.sink.play(2)  # the first sentence plays in full
    await rig.transport.wait_for(is_agent)
    assert rig.session.state == "speaking"

    # The user starts talking (what the listener reports at onset / speech start):
    turn_id = rig.session.new_turn_id()
    rig.session.on_speech_start(turn_id)
    assert rig.sink.paused and rig.sink.clears == 0  # silenced at once, not yet dropped
    assert rig.transport.transcripts("agent", final=True) == []

    rig.session.on_long_speech(turn_id)  # too long for "mm-hmm": a real barge-in
    final = await rig.agent_final(turn_id=1)
    await rig.idle()

    assert rig.sink.clears == 1 and rig.sink.queue == type(rig.sink.queue)()
    assert final["interrupted"] is True
    assert final["text"] == "Hello there."
    assert rig.session.context.history == [
        ChatMessage("user", "hi"),
        ChatMessage("assistant", "Hello there.", interrupted=True),
    ]
    # The model sees the cut-off answer on the next turn.
    rig.sink.autoplay = True
    rig.chat("stop")
    await rig.agent_final(turn_id=3)
    interrupted = ChatMessage("assistant", "Hello there.", interrupted=True)
    assert interrupted in rig.llm.requests[1].messages


async def test_interrupted_sentence_keeps_the_share_of_words_that_played(
    make_rig: MakeRig,
) -> None:
    rig = await make_rig(autoplay=False)
    rig.chat("hi")
    await queue_whole_reply(rig)

    rig.sink.play(3)  # sentence 1, then half of "How are you today?"
    rig.transport.deliver({"type": "interrupt"})
    final = await rig.agent_final(turn_id=1)

    assert final["text"] == "Hello there. How are"
    assert final["interrupted"] is True


async def test_a_noise_that_is_not_speech_resumes_the_agent(make_rig: MakeRig) -> None:
    rig = await make_rig(autoplay=False)
    rig.chat("hi")
    await queue_whole_reply(rig)
    rig.sink.play(2)

    rig.session.on_voice_onset()
    assert rig.sink.paused
    rig.session.on_voice_lost()  # a click, shorter than min_speech
    assert not rig.sink.paused

    rig.sink.play_all()
    final = await rig.agent_final(turn_id=1)
    assert final["text"] == REPLY and final["interrupted"] is False
    assert rig.sink.clears == 0


async def test_a_backchannel_resumes_the_agent_without_a_user_turn(make_rig: MakeRig) -> None:
    vad = FakeVAD([SPEECH] * 5 + [QUIET] * 16)
    rig = await make_rig(vad=vad, stt=FakeSTT("Mm-hmm."), autoplay=False)
    rig.chat("tell me a story")
    await queue_whole_reply(rig)
    rig.sink.play(2)

    await rig.speak(0, 5)  # the user hums along: the agent pauses at once
    assert rig.sink.paused
    await rig.speak(5, 16)
    await eventually(lambda: not rig.sink.paused)

    rig.sink.play_all()
    final = await rig.agent_final(turn_id=1)
    assert final["text"] == REPLY and final["interrupted"] is False
    assert [m["text"] for m in rig.transport.transcripts("user")] == ["tell me a story"]
    assert len(rig.llm.requests) == 1


@pytest.mark.parametrize("heard", ["M-M-F-M.", "Emenda."])
async def test_a_hum_whisper_turned_into_one_unsure_word_resumes_the_agent(
    make_rig: MakeRig, heard: str
) -> None:
    """Whisper writes a hummed "mm hmm" as a letter string or one invented word, with low
    confidence: that is a backchannel, not an interruption (the eval's false interruptions)."""
    vad = FakeVAD([SPEECH] * 5 + [QUIET] * 16)
    rig = await make_rig(vad=vad, stt=FakeSTT(heard, avg_logprob=-0.9), autoplay=False)
    rig.chat("tell me a story")
    await queue_whole_reply(rig)
    rig.sink.play(2)

    await rig.speak(0, 5)
    assert rig.sink.paused
    await rig.speak(5, 16)
    await eventually(lambda: not rig.sink.paused)

    rig.sink.play_all()
    final = await rig.agent_final(turn_id=1)
    assert final["interrupted"] is False
    assert len(rig.llm.requests) == 1


@pytest.mark.parametrize(("heard", "avg_logprob"), [("Stop!", -0.9), ("Wait.", None)])
async def test_one_interrupting_word_or_a_sure_one_interrupts(
    make_rig: MakeRig, heard: str, avg_logprob: float | None
) -> None:
    vad = FakeVAD([SPEECH] * 5 + [QUIET] * 16)
    llm = FakeLLM(REPLY, "Okay.")
    stt = FakeSTT(heard, avg_logprob=avg_logprob)
    rig = await make_rig(vad=vad, stt=stt, llm=llm, autoplay=False)
    rig.chat("tell me a story")
    await queue_whole_reply(rig)
    rig.sink.play(2)

    await rig.speak(0, 21)
    first = await rig.agent_final(turn_id=1)
    assert first["interrupted"] is True


async def test_real_words_over_the_agent_interrupt_it_and_get_an_answer(
    make_rig: MakeRig,
) -> None:
    vad = FakeVAD([SPEECH] * 5 + [QUIET] * 16)
    llm = FakeLLM(REPLY, "Sure, we can stop.")
    rig = await make_rig(vad=vad, stt=FakeSTT("Wait, stop please."), llm=llm, autoplay=False)
    rig.chat("tell me a story")
    await queue_whole_reply(rig)
    rig.sink.play(2)

    await rig.speak(0, 21)
    first = await rig.agent_final(turn_id=1)
    user = await rig.user_final(turn_id=2)

    assert first["interrupted"] is True and first["text"] == "Hello there."
    assert user["text"] == "Wait, stop please."
    await eventually(lambda: len(llm.requests) == 2)
    assert llm.requests[1].messages[-1] == ChatMessage("user", "Wait, stop please.")


async def test_speech_start_without_a_reply_does_nothing(make_rig: MakeRig) -> None:
    rig = await make_rig()
    before = list(rig.transport.sent)

    rig.session.on_speech_start(rig.session.new_turn_id())
    rig.session.on_long_speech(1)
    await asyncio.sleep(0.01)

    assert rig.sink.clears == 0 and rig.sink.pauses == 0
    assert rig.transport.sent == before


async def test_interrupt_message_stops_the_reply(make_rig: MakeRig) -> None:
    rig = await make_rig(autoplay=False)
    rig.chat("hi")
    await queue_whole_reply(rig)
    rig.sink.play(4)  # two sentences played

    rig.transport.deliver({"type": "interrupt"})
    final = await rig.agent_final(turn_id=1)

    assert final == {
        "type": "transcript",
        "role": "agent",
        "final": True,
        "text": "Hello there. How are you today?",
        "turn_id": 1,
        "interrupted": True,
    }
    assert rig.sink.queue == type(rig.sink.queue)()


async def test_interrupt_before_any_audio_played_records_no_agent_text(
    make_rig: MakeRig,
) -> None:
    rig = await make_rig(autoplay=False)
    rig.chat("hi")
    await queue_whole_reply(rig)

    rig.transport.deliver({"type": "interrupt"})
    final = await rig.agent_final(turn_id=1)
    await rig.idle()

    assert final["text"] == "" and final["interrupted"] is True
    assert rig.session.context.history == [ChatMessage("user", "hi")]
    assert "speaking" not in rig.transport.states()
    assert rig.transport.of_type("turn_metrics") == []


async def test_new_chat_while_speaking_replaces_the_reply(make_rig: MakeRig) -> None:
    rig = await make_rig(autoplay=False, llm=FakeLLM(REPLY, "Second answer here."))
    rig.chat("first")
    await queue_whole_reply(rig)
    rig.sink.play(2)

    rig.chat("second")
    first_final = await rig.agent_final(turn_id=1)
    await queue_whole_reply(rig, items=4)  # marker + 2 chunks + end
    rig.sink.play_all()
    second_final = await rig.agent_final(turn_id=2)
    await rig.idle()

    assert first_final["interrupted"] is True and first_final["text"] == "Hello there."
    assert second_final["text"] == "Second answer here."
    assert second_final["interrupted"] is False


async def test_two_quick_chats_during_a_reply_leave_only_the_latest_reply_running(
    make_rig: MakeRig,
) -> None:
    def answer(request: LLMRequest) -> str:
        return f"Reply to {request.messages[-1].content}."

    rig = await make_rig(autoplay=False, llm=FakeLLM(answer=answer))
    rig.chat("first")
    await queue_whole_reply(rig, items=4)
    rig.sink.play(2)

    rig.chat("second")  # both arrive while the first reply is still being cancelled
    rig.chat("third")
    # The superseded "second" never reaches the LLM; "third" does.
    await eventually(lambda: rig.llm.requests[-1].messages[-1].content == "third")
    await asyncio.sleep(0.05)
    queued_sentences = rig.models.tts.texts[1:]
    rig.sink.autoplay = True
    rig.sink.resume()
    rig.sink.play_all()
    await rig.agent_final(turn_id=3)
    await rig.idle()

    finals = {m["turn_id"]: m for m in rig.transport.transcripts("agent", final=True)}
    assert finals[3]["text"] == "Reply to third."
    assert finals[3]["interrupted"] is False
    # The superseded reply must not be played alongside (or instead of) the latest one.
    assert queued_sentences == ["Reply to third."]
    assert finals.get(2, {"interrupted": True})["interrupted"] is True


# --- provider failures -------------------------------------------------------------------
async def test_llm_failure_sends_an_error_apologizes_and_the_next_chat_still_works(
    make_rig: MakeRig,
) -> None:
    llm = FakeLLM(ProviderError("model crashed"), "Second try works.")
    rig = await make_rig(llm=llm)

    rig.chat("hi")
    error = await rig.transport.wait_for(lambda m: m["type"] == "error")
    apology = await rig.transport.wait_for(
        lambda m: m["type"] == "transcript" and m["final"] and m["text"] == APOLOGY
    )
    await rig.idle()

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

    rig.chat("hi")
    error = await rig.transport.wait_for(lambda m: m["type"] == "error")
    caption = await rig.transport.wait_for(
        lambda m: m["type"] == "transcript" and m["final"] and m["text"] == APOLOGY
    )
    await rig.idle()

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
    turn = [SPEECH] * 5 + [QUIET] * 16
    vad = FakeVAD(turn + turn)
    texts = iter(["I would like to book a table and", "I would like to book a table for two."])
    stt = FakeSTT(lambda _: next(texts))
    llm = FakeLLM("Booking what exactly?", "A table for two, done.")
    rig = await make_rig(vad=vad, stt=stt, llm=llm, incomplete_turn_silence_ms=60_000)

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
