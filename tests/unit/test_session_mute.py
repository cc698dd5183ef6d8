"""Issue 13: after any sequence of pause, interrupt, provisional end of turn and merge, a
released reply plays; and a reply that is ready but silent is noticed and played."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from voxroom.providers.base import LLMRequest

from .fakes import QUIET, SPEECH, FakeLLM, FakeSTT, FakeVAD, eventually
from .session_rig import MakeRig, is_user_final

STORY = "Once upon a time there was a dragon. It lived in a cave. "
ANSWER = "Go ahead, I am listening."


class StoryThenAnswers(FakeLLM):
    """The first request tells a story that never ends and, like a local model whose worker
    thread has to reach its stop check, takes a while to stop (until `stopped` is set)."""

    def __init__(self) -> None:
        super().__init__()
        self.stopped = asyncio.Event()

    async def stream(self, request: LLMRequest) -> AsyncIterator[str]:
        if self.requests:
            async for token in super().stream(request):
                yield token
            return
        self.requests.append(request)
        try:
            yield STORY
            await asyncio.Event().wait()  # still generating
        finally:
            await self.stopped.wait()


def wait_then_the_rest() -> tuple[FakeVAD, FakeSTT]:
    """ "Wait," — a pause long enough to end the turn — "stop. I have a different question."
    "Wait," sounds unfinished, so the turn is not confirmed and the rest merges into it."""
    utterance = [SPEECH] * 5 + [QUIET] * 16
    heard = iter(["Wait,", "Wait, stop. I have a different question."])
    return FakeVAD(utterance + utterance), FakeSTT(lambda _: next(heard))


async def test_the_reply_to_a_merged_interruption_plays_when_the_old_reply_was_slow_to_stop(
    make_rig: MakeRig,
) -> None:
    """The timeline of the issue: "Wait" interrupts the story and ends a turn provisionally;
    while the story is still stopping, the user's "stop" starts, merges with "Wait", and its
    voice onset pauses the sink for the story, which then ends. The merged turn's reply must
    be heard."""
    llm = StoryThenAnswers()
    llm.default = ANSWER
    vad, stt = wait_then_the_rest()
    rig = await make_rig(vad=vad, stt=stt, llm=llm)
    rig.chat("Tell me a long story.")
    await rig.transport.wait_for(lambda m: m["type"] == "state" and m["state"] == "speaking")

    await rig.speak(0, 21)  # "Wait" over the story, then a pause that ends the turn
    await rig.user_final(turn_id=2)
    await rig.speak(21, 5)  # "stop. I have ..." starts while the story is still stopping
    llm.stopped.set()
    await rig.agent_final(turn_id=1)  # the story, interrupted
    await rig.speak(26, 16)  # the end of the merged turn

    final = await rig.agent_final(turn_id=2)

    assert final["text"] == ANSWER and final["interrupted"] is False
    users = [m["text"] for m in rig.transport.sent if is_user_final(m)]
    assert users[-1] == "Wait, stop. I have a different question."
    assert not rig.sink.paused


async def test_a_ready_reply_that_plays_nothing_is_reported_and_played(make_rig: MakeRig) -> None:
    """The guard: whatever left the sink paused, a reply ready to play while the user is
    silent is an error event, and the session recovers by playing it."""
    rig = await make_rig(reply_stall_ms=200)
    errors: list[str] = []
    rig.session.log.subscribe(
        lambda e: errors.append(e.message) if e.type == "error" else None  # type: ignore[attr-defined]
    )
    rig.sink.pause()  # a fault nobody owns

    rig.chat("hi")
    final = await rig.agent_final(turn_id=1)

    assert final["interrupted"] is False
    assert len(errors) == 1 and "turn 1" in errors[0]
    assert rig.transport.of_type("error")[0]["message"] == errors[0]


async def test_the_guard_waits_while_the_user_speaks_over_a_paused_reply(
    make_rig: MakeRig,
) -> None:
    """A pause the user's voice explains is not a fault: the guard stays quiet."""
    vad = FakeVAD(default=SPEECH)
    rig = await make_rig(vad=vad, autoplay=False, reply_stall_ms=100, interruption_speech_ms=60_000)
    rig.chat("hi")
    await eventually(lambda: len(rig.sink.queue) >= 3)
    await rig.speak(0, 3)  # a voice onset pauses the reply; the user goes on speaking
    assert rig.sink.paused
    await asyncio.sleep(0.3)
    await rig.speak(3, 2)

    assert rig.transport.of_type("error") == []
    assert rig.sink.paused


async def test_words_after_a_finished_sounding_interruption_merge_while_the_old_reply_stops(
    make_rig: MakeRig,
) -> None:
    """`bench turns`, run 2 of 2026-12-05 16:50: "Wait, stop!" sounds finished, so its turn is
    confirmed at once; its reply waits for the story to wind down, and meanwhile the user goes
    on ("I have a different question."). Nothing of the reply was heard, so the words belong
    to the same turn: one turn, one reply that plays. They became a turn of their own, and
    the reply to "Wait, stop!" was dropped unheard (no spoken answer to either)."""
    llm = StoryThenAnswers()
    llm.default = ANSWER
    utterance = [SPEECH] * 5 + [QUIET] * 16
    heard = iter(["Wait, stop!", "Wait, stop! I have a different question."])
    vad, stt = FakeVAD(utterance + utterance), FakeSTT(lambda _: next(heard))
    rig = await make_rig(vad=vad, stt=stt, llm=llm)
    rig.chat("Tell me a long story.")
    await rig.transport.wait_for(lambda m: m["type"] == "state" and m["state"] == "speaking")

    await rig.speak(0, 21)  # "Wait, stop!" over the story, then a pause that ends the turn
    await rig.user_final(turn_id=2)
    await rig.speak(21, 5)  # "I have ..." starts while the story is still stopping
    llm.stopped.set()
    await rig.agent_final(turn_id=1)  # the story, interrupted
    await rig.speak(26, 16)  # the end of the merged turn

    final = await rig.agent_final(turn_id=2)

    assert final["text"] == ANSWER and final["interrupted"] is False
    users = [(m["turn_id"], m["text"]) for m in rig.transport.sent if is_user_final(m)]
    assert users[-1] == (2, "Wait, stop! I have a different question."), users
    assert len(llm.requests) == 2 or llm.requests[-1].messages[-1].content.endswith("question.")
    assert not rig.sink.paused
