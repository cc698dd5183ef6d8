"""The translator in a room (in-memory transport, fakes): each listener gets every other
speaker in their own language, into English from the audio (the recognizer's translate task),
into anything else through the LLM; a listener picks another language in the page."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from voxroom.agent.session import AgentSession
from voxroom.apps.translate import SpokenTranslator, Translator
from voxroom.audit import events as ev
from voxroom.config import TurnConfig, VoxroomConfig
from voxroom.providers.base import LLMRequest
from voxroom.transport.base import ParticipantInfo
from voxroom.transport.memory import MemoryTransport

from .fakes import (
    QUIET,
    TIMELINE,
    FakeLLM,
    FakeSink,
    FakeSTT,
    FakeTTS,
    block,
    block_ids,
    eventually,
    fake_models,
)
from .test_room_session import UTTERANCE, VADPerParticipant

ANA = ParticipantInfo("ana", "Ana", language="es")
BEN = ParticipantInfo("ben", "Ben", language="en")
CHLOE = ParticipantInfo("chloe", "Chloé", language="fr")
SPANISH = "¿Dónde está la estación?"


def llm_translates(request: LLMRequest) -> str:
    wanted = request.messages[0].text.split(" into ")[1].split(".")[0]
    return f"[{wanted}] {request.messages[-1].text}"


class Room:
    def __init__(self) -> None:
        self.stt = FakeSTT(
            lambda audio: SPANISH if block_ids(audio) else "",
            translation=lambda audio, language: f"Where is the station? ({language})",
        )
        self.llm = FakeLLM(answer=llm_translates)
        scripts = [UTTERANCE + [QUIET] * 200, [QUIET] * 400, [QUIET] * 400]
        self.transport = MemoryTransport(FakeSink(), multiparty=True)
        models = fake_models(vad=VADPerParticipant(*scripts), stt=self.stt, llm=self.llm)
        config = VoxroomConfig(turns=TurnConfig(**TIMELINE))
        self.session = AgentSession(
            "room-1", Translator(), self.transport, models, config, policy="silent"
        )
        self.events: list[ev.Event] = []
        self.session.log.subscribe(self.events.append)
        self.task = asyncio.create_task(self.session.run())

    def translations(self, identity: str) -> list[dict[str, Any]]:
        return [m for m in self.transport.inbox(identity) if m.get("type") == "translation"]


@pytest.fixture
async def room() -> AsyncIterator[Room]:
    made = Room()
    yield made
    made.transport.end()
    await asyncio.wait_for(made.task, 5)


async def test_each_listener_reads_the_speaker_in_their_own_language(room: Room) -> None:
    ana = room.transport.join(ANA)
    room.transport.join(BEN)
    room.transport.join(CHLOE)
    await eventually(lambda: len(room.session.speakers) == 3)
    hello = [m for m in room.transport.inbox("ben") if m["type"] == "translator"]
    assert hello[0]["language"] == "en" and "fr" in hello[0]["languages"]

    await ana.send(block(i) for i in range(60))
    await eventually(lambda: room.translations("ben") and room.translations("chloe"))

    assert room.stt.languages[-1] == "es"  # Ana is heard in her own language
    (english,) = room.translations("ben")
    assert english["text"] == "Where is the station? (es)" and english["by"] == "speech"
    assert english["final"] and english["participant"] == "ana" and english["name"] == "Ana"
    assert (english["language"], english["source_language"]) == ("en", "es")
    assert english["source_text"] == SPANISH
    (french,) = room.translations("chloe")
    assert french["text"] == f"[French] {SPANISH}" and french["by"] == "llm"
    assert room.translations("ana") == []  # nobody gets their own words back
    # Translated by the recognizer as it transcribed the turn: its own audio, its language.
    audio, language = room.stt.translated[-1]
    assert language == "es" and block_ids(audio)[0] <= 1
    assert not any(isinstance(e, ev.AgentSpeech) for e in room.events)


async def test_a_listener_chooses_another_language(room: Room) -> None:
    ana = room.transport.join(ANA)
    room.transport.join(BEN)
    await eventually(lambda: len(room.session.speakers) == 2)
    room.transport.deliver("ben", {"type": "language", "language": "de"})
    room.transport.deliver("ben", {"type": "language", "language": "klingon"})
    await eventually(lambda: room.session.speakers["ben"].listener.language == "de")
    acks = [m for m in room.transport.inbox("ben") if m["type"] == "translator"]
    assert acks[-1]["language"] == "de"

    await ana.send(block(i) for i in range(60))
    await eventually(lambda: room.translations("ben"))
    assert room.translations("ben")[0]["text"] == f"[German] {SPANISH}"


async def test_long_turns_get_interim_translations(room: Room) -> None:
    room.transport.join(ANA)
    room.transport.join(CHLOE)
    await eventually(lambda: len(room.session.speakers) == 2)
    room.session.log.emit(
        ev.UserTranscript(turn_id=7, text="¿Dónde", final=False, participant="ana")
    )
    await eventually(lambda: room.translations("chloe"))
    (interim,) = room.translations("chloe")
    assert not interim["final"] and interim["text"] == "[French] ¿Dónde"
    assert interim["turn_id"] == 7
    # Optional work: while the recognizer works on a final transcript, it gives way.
    room.stt.in_flight = 1
    room.session.log.emit(
        ev.UserTranscript(turn_id=8, text="¿Dónde está", final=False, participant="ana")
    )
    await asyncio.sleep(0.05)
    assert len(room.translations("chloe")) == 1
    room.stt.in_flight = 0


async def test_the_interpreter_says_the_english_translation() -> None:
    stt = FakeSTT(
        lambda audio: SPANISH if block_ids(audio) else "",
        translation=lambda audio, language: "Where is the station?",
    )
    tts = FakeTTS()
    transport = MemoryTransport(FakeSink(), multiparty=True)
    scripts = [UTTERANCE + [QUIET] * 200, [QUIET] * 400]
    models = fake_models(vad=VADPerParticipant(*scripts), stt=stt, llm=FakeLLM(), tts=tts)
    config = VoxroomConfig(turns=TurnConfig(**TIMELINE))
    session = AgentSession("room-1", SpokenTranslator(), transport, models, config)
    task = asyncio.create_task(session.run())
    ana = transport.join(ANA)
    transport.join(ParticipantInfo("ben", "Ben", language="es"))  # nobody reads English
    await eventually(lambda: len(session.speakers) == 2)
    await ana.send(block(i) for i in range(60))
    await eventually(lambda: tts.texts == ["Where is the station?"])
    assert session.policy.name == "always"  # its voice is published; it answers nobody
    transport.end()
    await asyncio.wait_for(task, 5)
