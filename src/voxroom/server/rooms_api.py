"""The rooms REST API (docs/protocol.md, "Rooms"): create, list, show and end rooms, and
issue join tokens. Every request carries a bearer token with the `rooms` scope; a join token
(`room` scope) may read its own room."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from voxroom.agent.policy import POLICIES
from voxroom.server.auth import ROOM_SCOPE, ROOMS_SCOPE, AuthError, Claims, TokenAuthority
from voxroom.server.janus_service import RoomsUnavailable
from voxroom.server.rooms import RoomLimitReached
from voxroom.server.sessions import SessionLimitReached
from voxroom.worker.dispatch import DispatchUnavailable, RoomDirectory

log = logging.getLogger(__name__)

ROOMS = web.AppKey("rooms", RoomDirectory)
ROOMS_AUTHORITY = web.AppKey("rooms_authority", TokenAuthority)
MAX_TOKEN_TTL_S = 24 * 3600
TEXT_LIMIT = 64  # identities, names, roles, languages


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def _claims(request: web.Request, scope: str = ROOMS_SCOPE) -> Claims | web.Response:
    try:
        return request.app[ROOMS_AUTHORITY].verify(request.headers.get("Authorization"), scope)
    except AuthError as exc:
        return _error(401, str(exc))


async def _body(request: web.Request) -> dict[str, Any] | web.Response:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "body must be a JSON object")
    return body if isinstance(body, dict) else _error(400, "body must be a JSON object")


def _text(body: dict[str, Any], key: str, default: str | None = None) -> str | None:
    value = body.get(key, default)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > TEXT_LIMIT:
        raise ValueError(f"'{key}' must be a string of at most {TEXT_LIMIT} characters")
    return value.strip() or default


async def create_room(request: web.Request) -> web.Response:
    if isinstance(denied := _claims(request), web.Response):
        return denied
    if isinstance(body := await _body(request), web.Response):
        return body
    try:
        name = _text(body, "name", "") or ""
        agent = _text(body, "agent")
        policy = _text(body, "policy")
        dispatch = _text(body, "dispatch", "now")
    except ValueError as exc:
        return _error(400, str(exc))
    if policy is not None and policy not in POLICIES:
        return _error(400, f"policy must be one of: {', '.join(POLICIES)}")
    if dispatch not in ("now", "on_join"):
        return _error(400, "dispatch must be 'now' or 'on_join'")
    try:
        room = await request.app[ROOMS].create(name, agent, policy, on_join=dispatch == "on_join")
    except ValueError as exc:
        return _error(400, str(exc))
    except KeyError as exc:
        return _error(400, str(exc.args[0]) if exc.args else "unknown agent")
    except (RoomLimitReached, SessionLimitReached) as exc:
        return _error(503, f"room limit reached: {exc}")
    except (RoomsUnavailable, DispatchUnavailable) as exc:
        return _error(503, str(exc))
    return web.json_response(
        {**room, "join_url": f"/?room={room['id']}"},
        status=201,
        headers={"Location": f"/api/v1/rooms/{room['id']}"},
    )


async def list_rooms(request: web.Request) -> web.Response:
    if isinstance(denied := _claims(request), web.Response):
        return denied
    return web.json_response({"rooms": await request.app[ROOMS].list()})


async def show_room(request: web.Request) -> web.Response:
    room_id = request.match_info["room_id"]
    claims = _claims(request)
    if isinstance(claims, web.Response):  # a participant may look at their own room
        claims = _claims(request, ROOM_SCOPE)
        if isinstance(claims, web.Response) or claims.room != room_id:
            return _error(401, "a token with the 'rooms' scope, or a join token for this room")
    room = await request.app[ROOMS].describe(room_id)
    if room is None:
        return _error(404, "no such room")
    return web.json_response(room)


async def end_room(request: web.Request) -> web.Response:
    if isinstance(denied := _claims(request), web.Response):
        return denied
    if not await request.app[ROOMS].end(request.match_info["room_id"]):
        return _error(404, "no such room")
    return web.Response(status=204)


async def join_token(request: web.Request) -> web.Response:
    if isinstance(denied := _claims(request), web.Response):
        return denied
    room_id = request.match_info["room_id"]
    if await request.app[ROOMS].describe(room_id) is None:
        return _error(404, "no such room")
    if isinstance(body := await _body(request), web.Response):
        return body
    try:
        issued = issue_join_token(request.app[ROOMS_AUTHORITY], room_id, body)
    except ValueError as exc:
        return _error(400, str(exc))
    return web.json_response(issued)


def issue_join_token(
    authority: TokenAuthority, room_id: str, body: dict[str, Any], default_ttl_s: int = 3600
) -> dict[str, Any]:
    """A join token for `room_id` from a request body: `identity` (required), `name`,
    `role`, `language`, `ttl` (seconds). ValueError says what is wrong."""
    identity = _text(body, "identity")
    if not identity:
        raise ValueError("'identity' is required")
    ttl = body.get("ttl", default_ttl_s)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 < ttl <= MAX_TOKEN_TTL_S:
        raise ValueError(f"'ttl' must be whole seconds between 1 and {MAX_TOKEN_TTL_S}")
    token, expires_at = authority.issue(
        identity,
        [ROOM_SCOPE],
        ttl,
        room=room_id,
        name=_text(body, "name"),
        role=_text(body, "role"),
        lang=_text(body, "language"),
    )
    return {"token": token, "expires_at": expires_at, "room": room_id, "identity": identity}


def add_rooms_routes(app: web.Application, rooms: RoomDirectory, authority: TokenAuthority) -> None:
    app[ROOMS] = rooms
    app[ROOMS_AUTHORITY] = authority
    app.router.add_post("/api/v1/rooms", create_room)
    app.router.add_get("/api/v1/rooms", list_rooms)
    app.router.add_get("/api/v1/rooms/{room_id}", show_room)
    app.router.add_delete("/api/v1/rooms/{room_id}", end_room)
    app.router.add_post("/api/v1/rooms/{room_id}/tokens", join_token)
