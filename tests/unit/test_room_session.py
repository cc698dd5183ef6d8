"""One engine for 1 and N participants: a session in a room (in-memory transport, fakes)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from voxroom.agent.policy import PolicyName
from voxroom.agent.session import AgentSession
from voxroom.audit import events as ev
from voxroom.config import TurnConfig, VoxroomConfig
from voxroom.providers.base import VAD, ChatMessage, VADStream
from voxroom.transport.base import ParticipantInfo
from voxroom.transport.memory import MemoryParticipant, MemoryTransport

from .fakes import (
    QUIET,
    SPEECH,
    TIMELINE,
    FakeAgent,
    FakeLLM,
    FakeSink,
    FakeSTT,
    ScriptedVADStream,
    block,
    block_ids,
    eventually,
    fake_models,
)

ANN = ParticipantInfo("ann", "Ann", role="customer")
BOB = ParticipantInfo("bob", "Bob")
UTTERANCE = [SPEECH] * 5 + [QUIET] * 16  # a turn: 21 blocks (speech, then end of turn)


class NovaAgent(FakeAgent):
    name = "Nova"


class VADPerParticipant(VAD):
    """Each listener's stream gets its own script, in the order participants join."""

    def __init__(self, *scripts: list[float]) -> None:
        self.scripts = deque(deque(s) for s in scripts)

    def create_stream(self) -> VADStream:
        return ScriptedVADStream(self.scripts.popleft(), 0.0)


@dataclass
class Room:
    session: AgentSession
    transport: MemoryTransport
    llm: FakeLLM
    task: asyncio.Task[None]
    people: dict[str, MemoryParticipant] = field(default_factory=dict)
    events: list[ev.Event] = field(default_factory=list)

    @property
    def sink(self) -> FakeSink:
        assert isinstance(self.transport.audio_out, FakeSink)
        return self.transport.audio_out

    async def join(self, who: ParticipantInfo) -> MemoryParticipant:
        self.people[who.identity] = participant = self.transport.join(who)
        await eventually(lambda: who.identity in self.session.speakers)
        return participant

    async def say(self, who: ParticipantInfo, first: int, count: int = len(UTTERANCE)) -> None:
        """`who` speaks blocks first..first+count (their VAD script decides what they are)."""
        await self.people[who.identity].send(block(i) for i in range(first, first + count))

    def transcripts(self, final: bool = True) -> list[ev.UserTranscript]:
        return [e for e in self.events if isinstance(e, ev.UserTranscript) and e.final == final]

    def replies(self) -> list[ev.AgentSpeech]:
        return [e for e in self.events if isinstance(e, ev.AgentSpeech) and e.final]

    async def settled(self) -> None:
        await eventually(lambda: self.session.state == "listening" and not self.session.voice.busy)


Texts = dict[int, str]  # first block of an utterance → what the recognizer hears


def stt_for(texts: Texts) -> FakeSTT:
    def hear(audio: np.ndarray) -> str:
        ids = [i for i in block_ids(audio) if i in texts]
        return texts[ids[0]] if ids else ""

    return FakeSTT(hear)


@pytest.fixture
async def make_room() -> AsyncIterator[Callable[..., Any]]:
    rooms: list[Room] = []

    async def make(
        texts: Texts,
        *scripts: list[float],
        policy: PolicyName | None = None,
        llm: FakeLLM | None = None,
        autoplay: bool = True,
        **turns: float,
    ) -> Room:
        transport = MemoryTransport(FakeSink(autoplay=autoplay), multiparty=True)
        llm = llm or FakeLLM(default="Sure.")
        models = fake_models(vad=VADPerParticipant(*scripts), stt=stt_for(texts), llm=llm)
        config = VoxroomConfig(turns=TurnConfig(**{**TIMELINE, **turns}))
        session = AgentSession("room-1", NovaAgent(), transport, models, config, policy=policy)
        room = Room(session, transport, llm, asyncio.create_task(session.run()))
        session.log.subscribe(room.events.append)
        rooms.append(room)
        return room

    yield make
    for room in rooms:
        room.transport.end()
        await asyncio.wait_for(room.task, 3)
        room.sink.close()


async def test_everyone_is_heard_and_the_agent_answers_when_addressed(make_room) -> None:
    room = await make_room(
        {0: "Nova, what is the capital of France?", 100: "I love Paris in the spring."},
        UTTERANCE,
        UTTERANCE,
        llm=FakeLLM("Paris is the capital.", default="Sure."),
    )
    await room.join(ANN)
    await room.join(BOB)

    await room.say(ANN, 0)
    await eventually(lambda: len(room.replies()) == 1)
    await room.settled()
    await room.say(BOB, 100)
    await eventually(lambda: len(room.transcripts()) == 2)
    await asyncio.sleep(0.05)

    ann, bob = room.transcripts()
    assert (ann.participant, ann.name, ann.text) == (
        "ann",
        "Ann",
        "Nova, what is the capital of France?",
    )
    assert (bob.participant, bob.name) == ("bob", "Bob")
    assert [r.played_text for r in room.replies()] == ["Paris is the capital."]
    assert room.replies()[0].participant == "ann"  # the reply's usage is Ann's
    assert len(room.llm.requests) == 1  # Bob's remark to Ann got no answer
    # The model sees who said what; Bob's remark is kept for later turns.
    assert room.llm.requests[0].messages[-1] == ChatMessage(
        "user", "Nova, what is the capital of France?", speaker="Ann"
    )
    assert room.session.context.history[-1] == ChatMessage(
        "user", "I love Paris in the spring.", speaker="Bob"
    )
    joined = [e for e in room.events if isinstance(e, ev.ParticipantJoined)]
    assert [(e.identity, e.role, e.name, e.call_role) for e in joined] == [
        ("Nova", "agent", None, None),
        ("ann", "user", "Ann", "customer"),
        ("bob", "user", "Bob", "user"),
    ]
    stt = [e for e in room.events if isinstance(e, ev.STTUsage)]
    assert {e.participant for e in stt} == {"ann", "bob"}


async def test_a_follow_up_from_the_person_just_answered_is_answered(make_room) -> None:
    room = await make_room(
        {0: "Nova, name a fruit.", 21: "And another one?", 200: "Do you want tea?"},
        UTTERANCE + UTTERANCE,
        UTTERANCE,
        llm=FakeLLM("A pear.", "An apple."),  # two answers: a repeat would be asked again
    )
    await room.join(ANN)
    await room.join(BOB)

    await room.say(ANN, 0)
    await eventually(lambda: len(room.replies()) == 1)
    await room.settled()
    await room.say(ANN, 21)  # no name, but right after the agent answered Ann
    await eventually(lambda: len(room.replies()) == 2)
    await room.settled()
    await room.say(BOB, 200)  # Bob asks Ann something: not the agent's business
    await eventually(lambda: len(room.transcripts()) == 3)
    await asyncio.sleep(0.05)

    assert len(room.llm.requests) == 2


async def test_anyones_voice_pauses_the_agent_and_a_backchannel_resumes_it(make_room) -> None:
    room = await make_room(
        {0: "Mm-hmm."},
        [QUIET] * 10,
        UTTERANCE,
        autoplay=False,
        policy="always",
    )
    await room.join(ANN)
    await room.join(BOB)
    room.transport.deliver("ann", {"type": "chat", "text": "Tell me a story."})
    await eventually(lambda: len(room.sink.queue) >= 3)
    room.sink.play(2)

    await room.say(BOB, 0, 5)  # Bob hums along: the agent pauses at once
    assert room.sink.paused
    await room.say(BOB, 5, 16)
    await eventually(lambda: not room.sink.paused)

    room.sink.play_all()
    await eventually(lambda: len(room.replies()) == 1)
    assert room.replies()[0].interrupted is False


async def test_the_agent_resumes_when_the_one_who_paused_it_leaves(make_room) -> None:
    room = await make_room({}, [QUIET] * 10, [SPEECH] * 3, autoplay=False, policy="always")
    await room.join(ANN)
    await room.join(BOB)
    room.transport.deliver("ann", {"type": "chat", "text": "Tell me a story."})
    await eventually(lambda: len(room.sink.queue) >= 3)
    room.sink.play(2)
    await room.say(BOB, 0, 3)  # a voice onset
    assert room.sink.paused

    room.transport.leave("bob")

    await eventually(lambda: not room.sink.paused)
    assert any(isinstance(e, ev.ParticipantLeft) and e.identity == "bob" for e in room.events)


async def test_two_people_talking_at_once_are_both_transcribed(make_room) -> None:
    room = await make_room(
        {0: "I think we should go.", 100: "No, let's stay here."}, UTTERANCE, UTTERANCE
    )
    await room.join(ANN)
    await room.join(BOB)

    await asyncio.gather(room.say(ANN, 0), room.say(BOB, 100))
    await eventually(lambda: len(room.transcripts()) == 2)

    heard = {e.participant: e.text for e in room.transcripts()}
    assert heard == {"ann": "I think we should go.", "bob": "No, let's stay here."}
    assert room.llm.requests == []  # nobody addressed the agent


async def test_a_late_joiner_is_heard(make_room) -> None:
    room = await make_room({50: "Hi Nova, I just got here."}, [QUIET] * 10, UTTERANCE)
    await room.join(ANN)
    await room.say(ANN, 0, 10)
    await room.join(BOB)

    await room.say(BOB, 50)
    await eventually(lambda: len(room.replies()) == 1)

    assert room.transcripts()[0].participant == "bob"


async def test_silent_never_speaks_but_keeps_the_transcript(make_room) -> None:
    room = await make_room({0: "Nova, are you there?"}, UTTERANCE, policy="silent")
    await room.join(ANN)

    await room.say(ANN, 0)
    await eventually(lambda: len(room.transcripts()) == 1)
    room.transport.deliver("ann", {"type": "chat", "text": "Nova?"})
    await eventually(lambda: len(room.transcripts()) == 2)
    await asyncio.sleep(0.05)

    assert room.llm.requests == [] and room.sink.pushed_seconds == 0


async def test_push_to_talk_answers_only_turns_made_with_the_button(make_room) -> None:
    room = await make_room(
        {0: "Nova, hello?", 30: "What is two plus two?"},
        UTTERANCE + [QUIET] * 30,
        policy="push_to_talk",
    )
    await room.join(ANN)

    await room.say(ANN, 0)  # hands-free, even with the name: only transcribed
    await eventually(lambda: len(room.transcripts()) == 1)
    room.transport.deliver("ann", {"type": "push_to_talk", "action": "press"})
    await room.say(ANN, 30, 5)
    room.transport.deliver("ann", {"type": "push_to_talk", "action": "release"})
    await eventually(lambda: len(room.replies()) == 1)

    assert len(room.llm.requests) == 1
    assert room.llm.requests[0].messages[-1].text == "What is two plus two?"


async def test_one_participant_is_the_peer_to_peer_case(make_room) -> None:
    """Not multiparty: every turn is answered and the model sees no names."""
    transport = MemoryTransport(FakeSink())
    llm = FakeLLM(default="Hello.")
    models = fake_models(vad=VADPerParticipant(UTTERANCE), stt=stt_for({0: "hi"}), llm=llm)
    config = VoxroomConfig(turns=TurnConfig(**TIMELINE))
    session = AgentSession("p2p", NovaAgent(), transport, models, config)
    task = asyncio.create_task(session.run())
    ann = transport.join(ANN)
    await eventually(lambda: "ann" in session.speakers)

    await ann.send(block(i) for i in range(21))
    await eventually(lambda: len(llm.requests) == 1)

    assert session.policy.name == "always"
    assert llm.requests[0].messages[-1] == ChatMessage("user", "hi")
    transport.end()
    await asyncio.wait_for(task, 3)


async def test_app_messages_and_captions_reach_only_their_audience(make_room) -> None:
    """A copilot's suggestions and transcript are for the human agent, never the customer."""

    class Copilot(NovaAgent):
        captions_to = ("agent",)

    room = await make_room({0: "How do I reset my router?"}, UTTERANCE, [QUIET] * 10)
    room.session.agent = Copilot()  # the class attribute is read as events flow
    sam = ParticipantInfo("sam", "Sam", role="agent")
    await room.join(ANN)
    await room.join(sam)

    await room.say(ANN, 0)
    await eventually(lambda: len(room.transcripts()) == 1)
    room.session.send({"type": "suggestion", "text": "Unplug it for ten seconds."}, roles=["agent"])
    await asyncio.sleep(0.01)

    transport = room.transport
    sams = transport.inbox("sam")
    assert {"type": "suggestion", "text": "Unplug it for ten seconds."} in sams
    assert any(m["type"] == "transcript" and m["role"] == "user" for m in sams)
    anns = transport.inbox("ann")
    assert not any(m["type"] in ("suggestion", "transcript") for m in anns), anns
    logged = [e for e in room.events if isinstance(e, ev.AppMessage)]
    assert logged[0].audience == ["sam"]


async def test_an_apps_own_message_reaches_its_hook_with_the_sender(make_room) -> None:
    asked: list[tuple[str | None, dict[str, object]]] = []

    class Copilot(NovaAgent):
        async def on_app_message(self, sender, message):  # type: ignore[no-untyped-def]
            asked.append((sender.identity if sender else None, message))
            return message["type"] == "ask"

    room = await make_room({}, [QUIET] * 10)
    room.session.agent = Copilot()
    await room.join(ANN)

    room.transport.deliver("ann", {"type": "ask", "text": "refund policy?"})
    room.transport.deliver("ann", {"type": "dance"})
    await eventually(lambda: len(asked) == 2)
    await asyncio.sleep(0.01)

    assert asked[0] == ("ann", {"type": "ask", "text": "refund policy?"})
    errors = [m for m in room.transport.sent if m["type"] == "error"]
    assert [e["message"] for e in errors] == ["invalid message: unknown type 'dance'"]
