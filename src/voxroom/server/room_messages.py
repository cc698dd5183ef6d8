"""`GET /api/v1/rooms/<id>/messages`: messages meant for some people of a room only.

The agent's data channel in Janus reaches everyone subscribed to it; what is meant for one
person or one role (a copilot's suggestions for the human agent, never the customer) comes
here instead, over a WebSocket each participant opens with their join token. The first
message authenticates: `{"type": "auth", "token": "<join token>"}` → `{"type": "ready"}`;
then the server sends the protocol's messages (docs/protocol.md) addressed to that identity.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from typing import Any

from aiohttp import WSMsgType, web

from voxroom.server.auth import ROOM_SCOPE, AuthError, TokenAuthority

log = logging.getLogger(__name__)

AUTH_TIMEOUT_S = 10.0
MAX_QUEUED = 256  # a client this far behind is cut off rather than buffered without bound


class RoomMessageHub:
    """Routes a room's direct messages to the connections of their identities."""

    def __init__(self) -> None:
        self._connections: dict[str, dict[str, set[asyncio.Queue[dict[str, Any] | None]]]] = (
            defaultdict(lambda: defaultdict(set))
        )

    def deliver(self, room: str, identities: frozenset[str], message: dict[str, Any]) -> None:
        """Queue `message` for every open connection of `identities` in `room` (none open:
        nobody receives it, as a data channel to someone who left)."""
        for identity in identities:
            for queue in list(self._connections[room].get(identity, ())):
                if queue.qsize() >= MAX_QUEUED:
                    queue.put_nowait(None)  # the writer ends this connection
                else:
                    queue.put_nowait(message)

    def open(self, room: str, identity: str) -> asyncio.Queue[dict[str, Any] | None]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._connections[room][identity].add(queue)
        return queue

    def close(self, room: str, identity: str, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        people = self._connections.get(room)
        if people is None:
            return
        people[identity].discard(queue)
        if not people[identity]:
            del people[identity]
        if not people:
            del self._connections[room]

    def end_room(self, room: str) -> None:
        """The room ended: every connection to it closes."""
        for queues in self._connections.pop(room, {}).values():
            for queue in queues:
                queue.put_nowait(None)


def add_room_messages_route(
    app: web.Application, hub: RoomMessageHub, authority: TokenAuthority
) -> None:
    async def messages(request: web.Request) -> web.StreamResponse:
        room = request.match_info["room_id"]
        socket = web.WebSocketResponse(heartbeat=30.0)
        await socket.prepare(request)
        identity = await _authenticate(socket, authority, room)
        if identity is None:
            await socket.close()
            return socket
        queue = hub.open(room, identity)
        writer = asyncio.create_task(_write(socket, queue))
        try:
            async for message in socket:  # nothing is accepted from clients: wait for close
                if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
        finally:
            hub.close(room, identity, queue)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            await socket.close()
        return socket

    app.router.add_get("/api/v1/rooms/{room_id}/messages", messages)


async def _authenticate(
    socket: web.WebSocketResponse, authority: TokenAuthority, room: str
) -> str | None:
    """The identity of a valid join token for `room` sent as the first message, or None
    (the client was told why)."""
    try:
        first = await socket.receive_json(timeout=AUTH_TIMEOUT_S)
        if not isinstance(first, dict) or first.get("type") != "auth":
            raise AuthError('the first message must be {"type": "auth", "token": …}')
        claims = authority.verify_token(str(first.get("token", "")), ROOM_SCOPE)
        if claims.room != room:
            raise AuthError("this token is for another room")
    except (AuthError, TimeoutError, ValueError, TypeError) as exc:
        reason = str(exc) or "authentication timed out"
        with contextlib.suppress(ConnectionError):
            await socket.send_json({"type": "error", "message": reason})
        return None
    await socket.send_json({"type": "ready"})
    return claims.identity


async def _write(
    socket: web.WebSocketResponse, queue: asyncio.Queue[dict[str, Any] | None]
) -> None:
    while (message := await queue.get()) is not None:
        try:
            await socket.send_json(message)
        except ConnectionError:
            return
    await socket.close()
