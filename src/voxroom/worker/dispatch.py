"""What the HTTP API asks of whoever runs sessions: the two interfaces both dispatchers
implement (in-process for `voxroom dev`, Redis for a fleet), and the errors they raise.

Rooms are described as JSON objects (docs/protocol.md, "Rooms"): the API passes them on.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol


class DispatchUnavailable(RuntimeError):
    """Nobody can take the job now (no worker for that agent, none with room, none answered
    in time, Redis unreachable): answered with a 503 and the reason."""


class RoomPlace(NamedTuple):
    """Where a room's media is: the Janus it was placed on and the VideoRoom's number."""

    janus_url: str
    janus_id: int


class SessionDispatcher(Protocol):
    async def create(self, offer_sdp: str, identity: str | None = None) -> tuple[str, str]:
        """Answer a peer-to-peer offer and start its session: (session id, answer SDP).
        Raises OfferError (a bad offer), SessionLimitReached or DispatchUnavailable."""
        ...

    async def end(self, session_id: str) -> bool:
        """End a session; False if it is not running (anywhere this dispatcher knows)."""
        ...


class RoomDirectory(Protocol):
    async def ready(self) -> None:
        """Raise RoomsUnavailable if rooms cannot work now (no Janus)."""
        ...

    async def create(
        self,
        name: str = "",
        agent: str | None = None,
        policy: str | None = None,
        *,
        on_join: bool = False,
    ) -> dict[str, Any]:
        """Make the room and put the agent in it (it is there when this returns; with
        `on_join`, when the first person joins: ValueError where that is not possible).
        KeyError: unknown agent; RoomLimitReached, SessionLimitReached, RoomsUnavailable,
        DispatchUnavailable."""
        ...

    async def describe(self, room_id: str) -> dict[str, Any] | None: ...

    async def list(self) -> list[dict[str, Any]]: ...

    async def end(self, room_id: str) -> bool: ...

    async def place(self, room_id: str) -> RoomPlace | None:
        """Where people join the room (the gateway connects them there); None: no room."""
        ...
