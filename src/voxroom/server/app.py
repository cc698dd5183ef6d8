"""The HTTP surface of `voxroom dev`: signaling (docs/protocol.md), tokens, web client."""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from voxroom.agent.agent import Agent
from voxroom.apps import SHIPPED
from voxroom.audit.cost import PriceTable
from voxroom.config import VoxroomConfig
from voxroom.providers.factory import ModelSet
from voxroom.runner import load_agent_class
from voxroom.server import memory_report
from voxroom.server.audit_api import AUDIT_SCOPE, add_audit_routes
from voxroom.server.audit_service import AuditService
from voxroom.server.auth import (
    ROOM_SCOPE,
    ROOMS_SCOPE,
    SESSION_SCOPE,
    AuthError,
    Claims,
    TokenAuthority,
)
from voxroom.server.janus_gateway import add_janus_gateway
from voxroom.server.janus_service import JanusService
from voxroom.server.metrics import VoxroomMetrics, add_metrics_route
from voxroom.server.ratelimit import RateLimiter, rate_limit_middleware
from voxroom.server.room_messages import RoomMessageHub, add_room_messages_route
from voxroom.server.rooms import RoomRegistry
from voxroom.server.rooms_api import ROOMS, add_rooms_routes, issue_join_token
from voxroom.server.sdp import SdpError, validate_offer
from voxroom.server.sessions import SessionLimitReached, SessionRegistry
from voxroom.server.tracing import otel_observer
from voxroom.transport.p2p.peer import OfferError
from voxroom.transport.webrtc import tuning
from voxroom.worker.dispatch import DispatchUnavailable, RoomDirectory, SessionDispatcher
from voxroom.worker.inprocess import InProcessRooms

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
REGISTRY = web.AppKey("registry", SessionRegistry)  # this process's own sessions (dev)
SESSIONS = web.AppKey("sessions", SessionDispatcher)  # who answers offers: REGISTRY or a fleet
AUTHORITY = web.AppKey("authority", TokenAuthority)
CONFIG = web.AppKey("config", VoxroomConfig)
# The peer-to-peer agent publishes video of its own (a browser agent's screen): the playground
# then offers to receive video even without a camera.
AGENT_VIDEO = web.AppKey("agent_video", bool)
# What the dev token endpoint may grant: calls, the audit trail, rooms (create and end them),
# and a room's join token (with `room` naming it).
TOKEN_SCOPES = (SESSION_SCOPE, AUDIT_SCOPE, ROOMS_SCOPE, ROOM_SCOPE)
# Debian's packages of Janus's browser library and the WebRTC shim it needs (the room page).
VENDOR_JS = {
    "janus.js": Path("/usr/share/javascript/janus-gateway/janus.js"),
    "adapter.js": Path("/usr/share/javascript/webrtc-adapter/adapter.js"),
}


def _json_error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def _is_loopback(request: web.Request) -> bool:
    try:
        address = ipaddress.ip_address(request.remote or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback  # "::ffff:127.0.0.1" on a dual-stack socket
    return address.is_loopback


async def create_token(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    if not config.server.dev_mode or not _is_loopback(request):
        return _json_error(403, "the token endpoint is open only in dev mode, from loopback")
    identity, scopes = "playground", [SESSION_SCOPE]
    body: object = {}
    if request.can_read_body:
        try:
            body = await request.json()
        except ValueError:
            return _json_error(400, "body must be JSON")
        if isinstance(body, dict) and isinstance(body.get("identity"), str):
            identity = body["identity"][:64]
        if isinstance(body, dict) and "room" in body:  # a join token for a room
            rooms = request.app[ROOMS]
            if not isinstance(body["room"], str) or await rooms.describe(body["room"]) is None:
                return _json_error(404, "no such room")
            try:
                joined = issue_join_token(
                    request.app[AUTHORITY],
                    body["room"],
                    {"identity": identity, **body},
                    config.server.token_ttl_s,
                )
            except ValueError as exc:
                return _json_error(400, str(exc))
            return web.json_response(joined)
        if isinstance(body, dict) and "scopes" in body:
            requested = body["scopes"]
            if not (
                isinstance(requested, list)
                and requested
                and all(scope in TOKEN_SCOPES for scope in requested)
            ):
                allowed = ", ".join(TOKEN_SCOPES)
                return _json_error(400, f"scopes must be a non-empty list of: {allowed}")
            scopes = sorted(set(requested))
    token, expires_at = request.app[AUTHORITY].issue(identity, scopes, config.server.token_ttl_s)
    return web.json_response({"token": token, "expires_at": expires_at})


def _authorize(request: web.Request) -> Claims | web.Response:
    """The caller's claims, or the 401 to answer."""
    try:
        return request.app[AUTHORITY].verify(request.headers.get("Authorization"), SESSION_SCOPE)
    except AuthError as exc:
        return _json_error(401, str(exc))


async def create_session(request: web.Request) -> web.Response:
    claims = _authorize(request)
    if isinstance(claims, web.Response):
        return claims
    if request.content_type != "application/sdp":
        return _json_error(415, "body must be an SDP offer (Content-Type: application/sdp)")
    limit = request.app[CONFIG].server.max_sdp_bytes
    if request.content_length is not None and request.content_length > limit:
        return _json_error(413, f"SDP offer larger than {limit} bytes")
    received = bytearray()
    while chunk := await request.content.read(limit + 1 - len(received)):  # every chunk
        received += chunk
        if len(received) > limit:
            return _json_error(413, f"SDP offer larger than {limit} bytes")
    body = bytes(received)
    try:
        offer = validate_offer(body)
        session_id, answer = await request.app[SESSIONS].create(offer, claims.identity)
    except (SdpError, OfferError) as exc:
        return _json_error(400, str(exc))
    except SessionLimitReached as exc:
        return _json_error(503, f"session limit reached: {exc}")
    except DispatchUnavailable as exc:
        return _json_error(503, str(exc))
    return web.Response(
        status=201,
        text=answer,
        content_type="application/sdp",
        headers={"Location": f"/api/v1/sessions/{session_id}"},
    )


async def delete_session(request: web.Request) -> web.Response:
    if isinstance(denied := _authorize(request), web.Response):
        return denied
    if not await request.app[SESSIONS].end(request.match_info["session_id"]):
        return _json_error(404, "no such session")
    return web.Response(status=204)


async def client_config(request: web.Request) -> web.Response:
    servers = request.app[CONFIG].transport.ice_servers
    return web.json_response(
        {
            "ice_servers": [s.model_dump(exclude_none=True) for s in servers],
            "agent_video": request.app.get(AGENT_VIDEO, False),
        }
    )


async def health(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY]
    return web.json_response(
        {
            "status": "ok",
            "sessions": len(registry),
            "inbound_backlog_frames": registry.inbound_backlog_frames(),
        }
    )


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(WEB_DIR / "index.html")


async def vendor_js(request: web.Request) -> web.StreamResponse:
    path = VENDOR_JS.get(request.match_info["name"])
    if path is None:
        return _json_error(404, "no such file")
    if not path.is_file():
        package = "libjs-janus-gateway" if "janus" in path.name else "libjs-webrtc-adapter"
        return _json_error(404, f"rooms need the Debian package {package}: apt install {package}")
    return web.FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})


def add_call_routes(
    app: web.Application,
    config: VoxroomConfig,
    authority: TokenAuthority,
    sessions: SessionDispatcher,
    rooms: RoomDirectory,
    hub: RoomMessageHub,
) -> None:
    """What people and their apps use, whoever runs the sessions (this process, or a fleet's
    workers): the web client, tokens, peer-to-peer signaling, rooms and their gateway."""
    app[AUTHORITY] = authority
    app[CONFIG] = config
    app[SESSIONS] = sessions
    app.router.add_get("/", index)
    app.router.add_get("/static/vendor/{name}", vendor_js)
    app.router.add_static("/static/", WEB_DIR, show_index=False, follow_symlinks=False)
    app.router.add_post("/api/v1/tokens", create_token)
    app.router.add_get("/api/v1/config", client_config)
    app.router.add_post("/api/v1/sessions", create_session)
    app.router.add_delete("/api/v1/sessions/{session_id}", delete_session)
    add_rooms_routes(app, rooms, authority)
    add_janus_gateway(app, rooms, authority)
    add_room_messages_route(app, hub, authority)


def base_app(config: VoxroomConfig) -> web.Application:
    """An application with the request limits every voxroom HTTP server applies."""
    # Small bodies only: SDP offers and token requests. Bigger requests get 413 from aiohttp.
    limiter = RateLimiter(config.server.rate_limit_per_minute, config.server.rate_limit_burst)
    return web.Application(
        client_max_size=config.server.max_sdp_bytes * 2,
        middlewares=[
            rate_limit_middleware(limiter, {"POST"}, ("/api/v1/sessions", "/api/v1/tokens"))
        ],
    )


def create_app(
    config: VoxroomConfig,
    models: ModelSet,
    agent_class: type[Agent],
    authority: TokenAuthority,
) -> web.Application:
    tuning.apply(config.transport.jitter_prefetch, config.transport.ice_addresses)
    app = base_app(config)
    registry = SessionRegistry(config, models, agent_class)
    app[REGISTRY] = registry
    app[AGENT_VIDEO] = agent_class.uses_video
    janus = JanusService(config.rooms)
    if (problem := janus.problem()) is not None:
        log.warning("%s; peer-to-peer sessions work without it", problem)
    hub = RoomMessageHub()
    room_registry = RoomRegistry(config, registry, janus, agent_catalog(agent_class), hub)
    rooms = InProcessRooms(room_registry)
    # Views of every session's events besides the audit writer: metrics, optional OTel spans.
    metrics = VoxroomMetrics(PriceTable.load(config.audit.prices))
    registry.observers.append(metrics.observe)
    if (spans := otel_observer()) is not None:
        registry.observers.append(spans.observe)

    async def open_audit(_: web.Application) -> None:
        if config.audit.enabled:
            registry.audit = AuditService(config)
            await registry.audit.start()

    async def close_audit(_: web.Application) -> None:
        if registry.audit is not None:
            await registry.audit.close()

    app.on_startup.append(open_audit)
    app.on_cleanup.append(close_audit)
    add_call_routes(app, config, authority, registry, rooms, hub)
    app.router.add_get("/api/v1/health", health)
    add_audit_routes(app, lambda: registry.audit, authority, config.audit)  # + /audit/ viewer
    add_metrics_route(app, metrics)

    async def close_sessions(_: web.Application) -> None:
        await room_registry.close_all()
        await registry.close_all()
        await janus.close()

    app.on_shutdown.append(close_sessions)
    if config.server.dev_mode and memory_report.enabled():  # opt-in, for developers
        folder = os.environ.get(memory_report.DIR_ENV) or config.models.cache_dir / "memory"
        memory_report.add_memory_report(app, Path(folder), _is_loopback, registry.heap.stats)
    return app


def agent_catalog(own: type[Agent]) -> Callable[[str | None], type[Agent]]:
    """A room's agent by name: the server's own (None or its name) or a shipped app."""

    def find(name: str | None) -> type[Agent]:
        if name is None or name == own.name:
            return own
        if name in SHIPPED:
            return load_agent_class(SHIPPED[name])
        choices = ", ".join([repr(own.name), *SHIPPED])
        raise KeyError(f"unknown agent {name!r}; choose one of: {choices}")

    return find
