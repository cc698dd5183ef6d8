"""Rooms of this server: a Janus VideoRoom each, with an agent session in it.

Creating a room makes the Janus room, joins the agent to it and starts its session (the same
engine and registry as peer-to-peer sessions). People join through the Janus gateway with a
join token for the room. A room nobody has been in for `empty_timeout_s` ends by itself.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from voxroom.agent.agent import Agent
from voxroom.agent.policy import PolicyName
from voxroom.config import VoxroomConfig
from voxroom.ids import new_id
from voxroom.server.janus_service import JanusService, RoomsUnavailable
from voxroom.server.room_messages import RoomMessageHub
from voxroom.server.sessions import SessionRegistry
from voxroom.transport.base import ParticipantInfo
from voxroom.transport.janus.room import JanusRoomTransport

log = logging.getLogger(__name__)
EMPTY_CHECK_S = 5.0


class RoomLimitReached(RuntimeError):
    pass


@dataclass
class Room:
    id: str  # the public id (URLs, tokens)
    janus_id: int  # the Janus VideoRoom's numeric id
    name: str
    agent: str
    policy: PolicyName
    session_id: str
    transport: JanusRoomTransport
    created_at: float = field(default_factory=time.time)
    _empty_since: float | None = None
    _watcher: asyncio.Task[None] | None = None

    def describe(self, registry: RoomRegistry) -> dict[str, Any]:
        live = registry.sessions.get(self.session_id)
        people = live.session.speakers.values() if live is not None else []
        return {
            "id": self.id,
            "name": self.name,
            "agent": self.agent,
            "policy": self.policy,
            "session_id": self.session_id,
            "created_at": round(self.created_at, 3),
            "participants": [
                {"identity": p.info.identity, "name": p.info.display_name, "role": p.info.role}
                for p in people
            ],
        }


class RoomRegistry:
    def __init__(
        self,
        config: VoxroomConfig,
        sessions: SessionRegistry,
        janus: JanusService,
        agents: Callable[[str | None], type[Agent]],
        hub: RoomMessageHub,
    ) -> None:
        self._config = config
        self.sessions = sessions
        self.janus = janus
        self.hub = hub  # messages for some people only (a copilot's, for the human agent)
        self._agents = agents  # agent name (None: the server's) → class; KeyError if unknown
        self._rooms: dict[str, Room] = {}
        self._creating = 0

    def __len__(self) -> int:
        return len(self._rooms)

    def get(self, room_id: str) -> Room | None:
        return self._rooms.get(room_id)

    def list(self) -> list[Room]:
        return sorted(self._rooms.values(), key=lambda room: room.created_at)

    async def create(
        self, name: str = "", agent: str | None = None, policy: PolicyName | None = None
    ) -> Room:
        """Make the room and put the agent in it. KeyError: unknown agent; RoomLimitReached;
        RoomsUnavailable (Janus missing or failing); SessionLimitReached."""
        agent_class = self._agents(agent)
        if len(self._rooms) + self._creating >= self._config.rooms.max_rooms:
            raise RoomLimitReached(f"at most {self._config.rooms.max_rooms} rooms")
        self._creating += 1
        try:
            return await self._create(name, agent_class, policy)
        finally:
            self._creating -= 1

    async def _create(self, name: str, agent_class: type[Agent], policy: PolicyName | None) -> Room:
        await self.janus.ready()
        room_id = new_id(9)
        janus_id = secrets.randbelow(2**52) + 1  # JavaScript-safe integer
        settings = self.janus.settings(janus_id, name or room_id)
        await self.janus.create_room(settings)
        identity = ParticipantInfo(agent_class.name, agent_class.name, role="agent")
        chosen = policy or agent_class.turn_policy or "addressed"
        transport = JanusRoomTransport(
            self.janus.url,
            janus_id,
            identity,
            self._config.transport,
            video=agent_class.uses_video,
            publish=chosen != "silent",  # a listening agent has no feed: nobody sees it
            direct=functools.partial(self.hub.deliver, room_id),
            prepare=functools.partial(self.janus.ensure_room, settings),
        )
        try:
            await transport.start()
            agent = agent_class()
            session_id = self.sessions.start(transport, agent, policy=chosen)
        except BaseException:
            await transport.close()
            await self.janus.destroy_room(janus_id)
            raise
        room = Room(
            room_id, janus_id, name or room_id, agent_class.name, chosen, session_id, transport
        )
        room._watcher = asyncio.create_task(self._watch(room))
        self._rooms[room_id] = room
        log.info("room %s (%s) created with agent %s", room_id, room.name, room.agent)
        return room

    async def _watch(self, room: Room) -> None:
        """End the room when its session ends, or when it has stayed empty too long."""
        timeout = self._config.rooms.empty_timeout_s
        while (live := self.sessions.get(room.session_id)) is not None:
            now = time.monotonic()
            if live.session.speakers:
                room._empty_since = None
            elif room._empty_since is None:
                room._empty_since = now
            elif now - room._empty_since >= timeout:
                log.info("room %s was empty for %.0f s: ending it", room.id, timeout)
                break
            await asyncio.sleep(min(EMPTY_CHECK_S, timeout))
        await self.end(room.id)

    async def end(self, room_id: str) -> bool:
        room = self._rooms.pop(room_id, None)
        if room is None:
            return False
        if room._watcher is not None and room._watcher is not asyncio.current_task():
            room._watcher.cancel()
        await self.sessions.end(room.session_id)
        await self.janus.destroy_room(room.janus_id)
        self.hub.end_room(room_id)
        log.info("room %s ended", room_id)
        return True

    async def close_all(self) -> None:
        for room_id in list(self._rooms):
            await self.end(room_id)


__all__ = ["Room", "RoomLimitReached", "RoomRegistry", "RoomsUnavailable"]
