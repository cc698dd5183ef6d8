"""The in-process dispatcher of `voxroom dev`: this process runs every session itself.

Peer-to-peer sessions need no adapter (`SessionRegistry` is a `SessionDispatcher`); rooms are
`RoomRegistry`'s, seen through the `RoomDirectory` interface the HTTP API uses.
"""

from __future__ import annotations

from typing import Any, cast

from voxroom.agent.policy import PolicyName
from voxroom.server.rooms import RoomRegistry
from voxroom.worker.dispatch import RoomPlace


class InProcessRooms:
    """`RoomDirectory` over this process's own `RoomRegistry`."""

    def __init__(self, registry: RoomRegistry) -> None:
        self.registry = registry

    async def ready(self) -> None:
        await self.registry.janus.ready()

    async def create(
        self,
        name: str = "",
        agent: str | None = None,
        policy: str | None = None,
        *,
        on_join: bool = False,
    ) -> dict[str, Any]:
        if on_join:
            raise ValueError("'dispatch': 'on_join' needs a fleet (voxroom api): here the "
                             "agent is always in the room from the start")  # fmt: skip
        room = await self.registry.create(name, agent, cast(PolicyName | None, policy))
        return room.describe(self.registry)

    async def describe(self, room_id: str) -> dict[str, Any] | None:
        room = self.registry.get(room_id)
        return None if room is None else room.describe(self.registry)

    async def list(self) -> list[dict[str, Any]]:
        return [room.describe(self.registry) for room in self.registry.list()]

    async def end(self, room_id: str) -> bool:
        return await self.registry.end(room_id)

    async def place(self, room_id: str) -> RoomPlace | None:
        room = self.registry.get(room_id)
        if room is None:
            return None
        return RoomPlace(self.registry.janus.url, room.janus_id)
