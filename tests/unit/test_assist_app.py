"""The copilot in a room (in-memory transport, fakes): suggestions citing the right document
reach the human agent only; small talk and unanswerable questions get none; the agent's own
questions; the summary, running and saved at the end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.knowledge.encoders import WordHashEncoder
from voxroom.agent.session import AgentSession
from voxroom.apps.assist import Copilot
from voxroom.audit import events as ev
from voxroom.config import TurnConfig, VoxroomConfig
from voxroom.knowledge import KnowledgeBase
from voxroom.transport.base import ParticipantInfo
from voxroom.transport.memory import MemoryTransport

from .fakes import QUIET, TIMELINE, FakeLLM, FakeSink, block, eventually, fake_models
from .test_room_session import UTTERANCE, VADPerParticipant, stt_for

ANN = ParticipantInfo("ann", "Ann", role="customer")
SAM = ParticipantInfo("sam", "Sam", role="agent")
SAID = {
    0: "Hi, how are you today?",
    100: "How long does a refund to my card take?",
    200: "Do you sell pizza and pasta?",
    300: "What does a red light on the router mean?",
}


class Room:
    def __init__(self, tmp_path: Path, llm: FakeLLM) -> None:
        docs = tmp_path / "kb"
        docs.mkdir()
        (docs / "billing.md").write_text(
            "# Billing\n\n## Refunds\nA refund to your card takes ten business days.\n"
        )
        (docs / "router.md").write_text(
            "# Router\n\n## Lights\nA red light on the router means there is no signal.\n"
        )
        store = tmp_path / "store"

        class TestCopilot(Copilot):
            min_similarity = 0.3  # the stand-in encoder's scale

            def knowledge_base(self) -> KnowledgeBase:
                return KnowledgeBase(docs, store, WordHashEncoder, check_interval_s=0.0)

        scripts = [[QUIET] * 2000, [QUIET] * 2000]
        # Ann's listener hears an utterance at each block index of SAID.
        ann_script = [QUIET] * 400
        for first in SAID:
            ann_script[first : first + len(UTTERANCE)] = UTTERANCE
        scripts[0] = ann_script
        self.transport = MemoryTransport(FakeSink(), multiparty=True)
        models = fake_models(vad=VADPerParticipant(*scripts), stt=stt_for(SAID), llm=llm)
        config = VoxroomConfig(turns=TurnConfig(**TIMELINE))
        self.copilot = TestCopilot()
        self.session = AgentSession(
            "room-1", self.copilot, self.transport, models, config, policy="silent"
        )
        self.events: list[ev.Event] = []
        self.session.log.subscribe(self.events.append)
        self.task = asyncio.create_task(self.session.run())

    def messages(self, identity: str, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.transport.inbox(identity) if m.get("type") == kind]


@pytest.fixture
async def room(tmp_path: Path) -> AsyncIterator[Room]:
    made = Room(tmp_path, FakeLLM(default="no"))
    yield made
    made.transport.end()
    await asyncio.wait_for(made.task, 5)


async def test_suggestions_cite_the_document_and_reach_only_the_human_agent(room: Room) -> None:
    ann = room.transport.join(ANN)
    room.transport.join(SAM)
    await eventually(lambda: {"ann", "sam"} <= set(room.session.speakers))
    assert room.messages("sam", "copilot"), "the human agent is told the copilot is there"

    await ann.send(block(i) for i in range(400))
    await eventually(lambda: len(room.messages("sam", "transcript")) >= 4, timeout=5)
    await eventually(lambda: len(room.messages("sam", "suggestion")) == 2, timeout=5)

    first, second = room.messages("sam", "suggestion")
    assert first["question"] == SAID[100] and first["trigger"] == "question"
    assert first["sources"][0]["document"] == "billing.md"
    assert first["sources"][0]["section"] == "Refunds"
    assert first["answer"] == "A refund to your card takes ten business days."
    assert first["participant"] == "ann" and first["confident"]
    assert second["sources"][0]["document"] == "router.md"
    # Small talk and the pizza question got none; the customer got nothing at all.
    assert not any(
        m["type"] in ("suggestion", "summary", "copilot") for m in room.transport.inbox("ann")
    )
    assert not any(m["type"] in ("transcript", "state") for m in room.transport.inbox("ann"))
    summary = room.messages("sam", "summary")[-1]
    assert not summary["final"]
    assert "Not in the knowledge base: Do you sell pizza and pasta" in summary["text"]
    assert [q["document"] for q in summary["questions"]] == ["billing.md", None, "router.md"]
    assert room.session.state == "listening"
    assert not any(isinstance(e, ev.AgentSpeech) for e in room.events)


async def test_the_human_agent_asks_and_the_customer_cannot(room: Room) -> None:
    room.transport.join(ANN)
    room.transport.join(SAM)
    await eventually(lambda: {"ann", "sam"} <= set(room.session.speakers))
    room.transport.deliver("sam", {"type": "ask", "text": "refund card days"})
    room.transport.deliver("ann", {"type": "ask", "text": "refund card days"})
    await eventually(lambda: len(room.messages("sam", "suggestion")) == 1)
    await asyncio.sleep(0.05)
    (answer,) = room.messages("sam", "suggestion")
    assert answer["trigger"] == "ask" and answer["sources"][0]["document"] == "billing.md"
    assert room.messages("ann", "suggestion") == []
    assert not any(isinstance(e, ev.ErrorOccurred) for e in room.events), "ask is handled"


async def test_the_call_summary_is_saved_at_the_end(room: Room) -> None:
    room.transport.join(ANN)
    room.transport.join(SAM)
    await eventually(lambda: {"ann", "sam"} <= set(room.session.speakers))
    room.transport.deliver("sam", {"type": "ask", "text": "router red light"})
    await eventually(lambda: len(room.messages("sam", "suggestion")) == 1)
    room.transport.leave("ann")
    await eventually(lambda: any(m["final"] for m in room.messages("sam", "summary")))
    room.transport.end()
    await asyncio.wait_for(room.task, 5)
    saved = [
        e
        for e in room.events
        if isinstance(e, ev.AppMessage) and e.message["type"] == "summary" and e.message["final"]
    ]
    assert saved[-1].audience == ["sam"]
    assert saved[-1].message["questions"][0]["document"] == "router.md"
    assert isinstance(room.events[-1], ev.SessionEnded)
