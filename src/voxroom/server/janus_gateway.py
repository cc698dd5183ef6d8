"""`GET /api/v1/janus`: the Janus API for browsers and room clients, through voxroom.

Janus listens on loopback only; people reach it through this WebSocket (subprotocol
`janus-protocol`, so Janus's own JavaScript library connects to it unchanged). Each request
carries a room join token in its `token` field (janus.js's `token` option does exactly that);
the gateway checks it, removes it, and rewrites what it allows before Janus sees it:

- only the VideoRoom plugin, and only what a participant does (join, publish, subscribe,
  configure, start, pause, switch, leave, listparticipants); never create, destroy, edit,
  kick, moderate, allowed, rtp_forward or recording requests;
- every room field is the token's room; a publisher's `display` is set from the token (who
  they are, their name and role: `transport.janus.room.participant_display`), so nobody can
  join as someone else or somewhere else;
- requests may only name Janus sessions created on this same connection.

The first request binds the connection to its token (checked in full, expiry included); later
requests must carry the same token, whose expiry then no longer cuts a call short. The
connection to Janus opens only then: the token's room says which Janus (a fleet has several).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from voxroom.server.auth import ROOM_SCOPE, AuthError, Claims, TokenAuthority
from voxroom.transport.base import ParticipantInfo
from voxroom.transport.janus.room import participant_display
from voxroom.transport.janus.videoroom import PLUGIN
from voxroom.worker.dispatch import RoomDirectory, RoomPlace

log = logging.getLogger(__name__)

PROTOCOL = "janus-protocol"
MAX_MESSAGE_BYTES = 256 * 1024  # an SDP with video and many candidates fits easily
CORE_REQUESTS = {"create", "attach", "message", "trickle", "keepalive", "detach", "hangup"}
CORE_REQUESTS |= {"destroy", "claim", "info", "ping"}
VIDEOROOM_REQUESTS = {"join", "joinandconfigure", "configure", "publish", "unpublish"}
VIDEOROOM_REQUESTS |= {"start", "pause", "switch", "leave", "update", "listparticipants"}
VIDEOROOM_REQUESTS |= {"subscribe", "unsubscribe"}
JSON = dict[str, Any]


class Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class GatewayConnection:
    """One browser (or client) WebSocket and its own WebSocket to Janus."""

    def __init__(self, rooms: RoomDirectory, authority: TokenAuthority) -> None:
        self._rooms = rooms
        self._authority = authority
        self._token: str | None = None
        self._claims: Claims | None = None
        self.place: RoomPlace | None = None  # the token's room, once bound
        self._sessions: set[int] = set()
        self._creating: set[str] = set()  # transactions of our `create` requests

    async def bind(self, request: JSON) -> RoomPlace:
        """Bind the connection to the first request's token and its room (Refused if the
        token is bad or the room is gone); returns where the room is."""
        token = request.get("token")
        if not isinstance(token, str) or not token:
            raise Refused(403, "a room join token is required (the 'token' field)")
        try:
            claims = self._authority.verify_token(token, ROOM_SCOPE)
        except AuthError as exc:
            raise Refused(403, str(exc)) from exc
        place = None if claims.room is None else await self._rooms.place(claims.room)
        if place is None:
            raise Refused(404, "no such room (it may have ended)")
        self._token, self._claims, self.place = token, claims, place
        return place

    def screen(self, request: JSON) -> JSON:
        """The request as Janus may see it, or Refused."""
        verb = request.get("janus")
        if verb not in CORE_REQUESTS:
            raise Refused(403, f"request {verb!r} is not allowed through the gateway")
        claims = self._check_token(request.pop("token", None))
        request.pop("apisecret", None)
        session = request.get("session_id")
        if verb not in ("create", "info", "ping") and session not in self._sessions:
            raise Refused(403, "no such session on this connection")
        if verb == "create":
            self._creating.add(str(request.get("transaction")))
        elif verb == "attach" and request.get("plugin") != PLUGIN:
            raise Refused(403, f"only {PLUGIN} is available")
        elif verb == "message":
            request["body"] = self._screen_body(request.get("body"), claims)
        return request

    def _check_token(self, token: object) -> Claims:
        if not isinstance(token, str) or not token:
            raise Refused(403, "a room join token is required (the 'token' field)")
        if self._claims is None:
            raise Refused(403, "the connection is not bound to a token")
        if token != self._token:
            raise Refused(403, "this connection belongs to another token")
        return self._claims

    def _screen_body(self, body: object, claims: Claims) -> JSON:
        if not isinstance(body, dict) or body.get("request") not in VIDEOROOM_REQUESTS:
            what = body.get("request") if isinstance(body, dict) else body
            raise Refused(403, f"videoroom request {what!r} is not allowed")
        assert self.place is not None
        body = dict(body)
        request = body["request"]
        if "room" in body or request in ("join", "joinandconfigure", "listparticipants"):
            body["room"] = self.place.janus_id
        for key in ("id", "token", "pin", "secret", "admin_key"):
            body.pop(key, None)  # Janus assigns ids; access is the gateway's business
        if request in ("join", "joinandconfigure", "configure", "publish") and (
            request in ("configure", "publish") or body.get("ptype") == "publisher"
        ):
            who = ParticipantInfo(
                claims.identity, claims.name or "", claims.role or "user", claims.language
            )
            body["display"] = participant_display(who)
        return body

    def observe_reply(self, reply: JSON) -> None:
        """Learn the sessions this connection creates (from Janus's replies)."""
        transaction = str(reply.get("transaction"))
        if transaction in self._creating and reply.get("janus") in ("success", "error"):
            self._creating.discard(transaction)
            if reply.get("janus") == "success":
                self._sessions.add(int(reply["data"]["id"]))


def add_janus_gateway(
    app: web.Application, rooms: RoomDirectory, authority: TokenAuthority
) -> None:
    async def gateway(request: web.Request) -> web.StreamResponse:
        try:
            await rooms.ready()
        except Exception as exc:  # RoomsUnavailable, typically: say why, as JSON
            return web.json_response({"error": str(exc)}, status=503)
        browser = web.WebSocketResponse(protocols=(PROTOCOL,), max_msg_size=MAX_MESSAGE_BYTES)
        await browser.prepare(request)
        connection = GatewayConnection(rooms, authority)
        first = await _first_request(browser, connection)
        if first is None:
            await browser.close()
            return browser
        assert connection.place is not None
        async with aiohttp.ClientSession() as http:
            try:
                janus = await http.ws_connect(connection.place.janus_url, protocols=(PROTOCOL,))
            except (aiohttp.ClientError, OSError) as exc:
                log.warning("gateway: Janus unreachable: %s", exc)
                await browser.close(code=aiohttp.WSCloseCode.TRY_AGAIN_LATER)
                return browser
            upstream = asyncio.create_task(_relay_replies(janus, browser, connection))
            try:
                await _forward(first, browser, janus, connection)
                await _relay_requests(browser, janus, connection)
            finally:
                upstream.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await upstream
                await janus.close()
        await browser.close()
        return browser

    app.router.add_get("/api/v1/janus", gateway)


async def _first_request(
    browser: web.WebSocketResponse, connection: GatewayConnection
) -> JSON | None:
    """Read requests until one binds the connection to a valid token (the others are
    answered with errors); None if the browser leaves first."""
    async for message in browser:
        if message.type != WSMsgType.TEXT:
            if message.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                return None
            continue
        request = await _parse(browser, message.data)
        if request is None:
            continue
        try:
            await connection.bind(request)
        except Refused as refused:
            await _refuse(browser, request, refused)
            continue
        return request
    return None


async def _parse(browser: web.WebSocketResponse, data: str) -> JSON | None:
    try:
        request = json.loads(data)
        if not isinstance(request, dict):
            raise ValueError("not an object")
    except ValueError:
        await browser.send_json(
            {"janus": "error", "error": {"code": 454, "reason": "requests are JSON objects"}}
        )
        return None
    return request


async def _refuse(browser: web.WebSocketResponse, request: JSON, refused: Refused) -> None:
    log.info("gateway refused %s: %s", request.get("janus"), refused.reason)
    await browser.send_json(
        {
            "janus": "error",
            "transaction": request.get("transaction"),
            "session_id": request.get("session_id"),
            "error": {"code": refused.code, "reason": refused.reason},
        }
    )


async def _forward(
    request: JSON,
    browser: web.WebSocketResponse,
    janus: aiohttp.ClientWebSocketResponse,
    connection: GatewayConnection,
) -> None:
    try:
        await janus.send_json(connection.screen(request))
    except Refused as refused:
        await _refuse(browser, request, refused)


async def _relay_requests(
    browser: web.WebSocketResponse,
    janus: aiohttp.ClientWebSocketResponse,
    connection: GatewayConnection,
) -> None:
    async for message in browser:
        if message.type != WSMsgType.TEXT:
            if message.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                return
            continue
        request = await _parse(browser, message.data)
        if request is not None:
            await _forward(request, browser, janus, connection)


async def _relay_replies(
    janus: aiohttp.ClientWebSocketResponse,
    browser: web.WebSocketResponse,
    connection: GatewayConnection,
) -> None:
    async for message in janus:
        if message.type != WSMsgType.TEXT:
            break
        with contextlib.suppress(ValueError, KeyError, TypeError):
            connection.observe_reply(json.loads(message.data))
        await browser.send_str(message.data)
    await browser.close()  # Janus went away: the page reconnects and rejoins
