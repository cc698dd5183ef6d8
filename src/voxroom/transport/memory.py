"""An in-process transport: participants, their audio and their messages are pushed by code
(tests, benchmarks, text-only sessions); what the agent sends is collected or counted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Iterable
from typing import Any

import numpy as np

from voxroom.transport.base import (
    AudioSink,
    MessageHandler,
    ParticipantEvent,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantLeft,
    RemoteParticipant,
    Transport,
)


class MemoryParticipant(RemoteParticipant):
    """Audio pushed by code: `push` queues a chunk as a network would; `send` returns only
    once the session has taken each chunk (deterministic tests)."""

    def __init__(self, info: ParticipantInfo) -> None:
        self.info = info
        self._audio: asyncio.Queue[np.ndarray | None] = asyncio.Queue()

    async def push(self, chunk: np.ndarray) -> None:
        self._audio.put_nowait(chunk)

    async def send(self, chunks: Iterable[np.ndarray]) -> None:
        for chunk in chunks:
            self._audio.put_nowait(chunk)
            await self._audio.join()

    def end(self) -> None:
        self._audio.put_nowait(None)

    async def inbound_audio(self) -> AsyncIterator[np.ndarray]:
        while (chunk := await self._audio.get()) is not None:
            yield chunk
            self._audio.task_done()  # the consumer asked for the next: this one is done


class MemoryTransport(Transport):
    def __init__(self, sink: AudioSink, *, multiparty: bool = False) -> None:
        self.audio_out = sink
        self.multiparty = multiparty
        self.sent: list[dict[str, Any]] = []  # to everyone
        self.directed: list[tuple[frozenset[str], dict[str, Any]]] = []  # to some
        self.keep_sent = True  # False: only count (long benchmark runs)
        self.sent_count = 0
        self.members: dict[str, MemoryParticipant] = {}
        self._events: asyncio.Queue[ParticipantEvent | None] = asyncio.Queue()
        self._handler: MessageHandler | None = None
        self.closed = False

    def join(self, info: ParticipantInfo) -> MemoryParticipant:
        participant = MemoryParticipant(info)
        self.members[info.identity] = participant
        self._events.put_nowait(ParticipantJoined(participant))
        return participant

    def leave(self, identity: str) -> None:
        if (participant := self.members.pop(identity, None)) is not None:
            participant.end()
            self._events.put_nowait(ParticipantLeft(identity))

    def deliver(self, sender: str, message: dict[str, Any]) -> None:
        """A message from `sender`, as if it came over the data channel."""
        assert self._handler is not None, "no session listens to this transport yet"
        self._handler(sender, message)

    async def participants(self) -> AsyncIterator[ParticipantEvent]:
        while (event := await self._events.get()) is not None:
            yield event

    def send(self, message: dict[str, Any], to: Collection[str] | None = None) -> None:
        self.sent_count += 1
        if not self.keep_sent:
            return
        if to is None:
            self.sent.append(message)
        else:
            self.directed.append((frozenset(to), message))

    def inbox(self, identity: str) -> list[dict[str, Any]]:
        """What `identity` received: everything sent to all, and what was sent to them."""
        return [*self.sent, *(m for to, m in self.directed if identity in to)]

    def on_message(self, handler: MessageHandler) -> None:
        self._handler = handler

    def end(self) -> None:
        """The call is over: everyone leaves and `participants()` ends."""
        if self.closed:
            return
        self.closed = True
        for identity in list(self.members):
            self.leave(identity)
        self._events.put_nowait(None)

    async def close(self) -> None:
        self.end()
