"""agent/session.py (+ listener, reply) end to end over an in-memory transport and fakes:
start-up, chat turns, barge-in (voice turns and failures: test_session_voice.py)."""

from __future__ import annotations

import asyncio

import pytest

from voxroom.agent.context import UserTurn
from voxroom.config import VoxroomConfig
from voxroom.providers.base import ChatMessage, LLMRequest

from .fakes import (
    QUIET,
    SPEECH,
    USER,
    FakeAgent,
    FakeLLM,
    FakeSTT,
    FakeVAD,
    eventually,
)
from .session_rig import (
    REPLY,
    SENTENCES,
    MakeRig,
    is_agent,
    queue_whole_reply,
)


# --- start-up ----------------------------------------------------------------------------
async def test_session_announces_itself_then_listens(make_rig: MakeRig) -> None:
    rig = await make_rig()

    assert rig.transport.sent[:2] == [
        {
            "type": "session",
            "session_id": "sess-1",
            "agent": "fake agent",
            "llm": "fake-llm:unknown",
        },
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
        "participant": "user-1",
        "name": "Ann",
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


async def test_the_same_answer_to_a_question_asked_again_is_not_written_twice(
    make_rig: MakeRig,
) -> None:
    rig = await make_rig(llm=FakeLLM(default="Paris."))

    for turn_id, text in enumerate(["Capital of France?", "capital of France", "Best food?"], 1):
        rig.chat(text)
        await rig.agent_final(turn_id=turn_id)
        await rig.idle()

    # Asked again, "Paris." stands at once; after another question it is a repeat the
    # check has the model write again (it stands then, being short and the same).
    assert [len(r.messages) for r in rig.llm.requests] == [2, 4, 6, 2]


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
    turn_id = rig.session.new_turn_id(USER)
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

    rig.session.on_voice_onset(USER.identity)
    assert rig.sink.paused
    rig.session.on_voice_lost(USER.identity)  # a click, shorter than min_speech
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
