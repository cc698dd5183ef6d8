"""The test rig for agent/session.py: an AgentSession over an in-memory transport and fakes
(`make_rig`, the fixture in conftest.py, builds them)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from voxroom.agent.agent import Agent
from voxroom.agent.session import AgentSession
from voxroom.config import TurnConfig, VoxroomConfig
from voxroom.providers.factory import ModelSet

from .fakes import (
    TIMELINE,
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
        return self.session.voice.busy


MakeRig = Callable[..., Awaitable[Rig]]


async def rig_factory() -> AsyncIterator[MakeRig]:
    """Yields a factory of running sessions; ends them all afterwards."""
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
