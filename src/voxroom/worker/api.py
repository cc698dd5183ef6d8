"""`voxroom api`: a fleet's HTTP API node. It loads no models: peer-to-peer offers and room
agents are jobs for workers (`redis_dispatch`); rooms are placed on the least-loaded Janus;
people join through the gateway (to whichever Janus holds their room) and receive the
messages meant for them only from whichever worker runs their room's agent (Redis pub/sub
→ this node's hub → their WebSocket). Any number of API nodes can run side by side.

Also here: the Janus event webhook (`POST /api/v1/janus/events?key=…&janus=<n>`, Janus's
`sampleevh`): someone joining a room created with `"agent": "on_join"`-style dispatch (its
agent waits for the first person) makes the agent's job; and `GET /api/v1/fleet`, the
workers and Janus servers with their load (a `rooms` token).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from voxroom.config import VoxroomConfig
from voxroom.server.app import add_call_routes, base_app
from voxroom.server.audit_api import add_audit_routes
from voxroom.server.audit_service import AuditService
from voxroom.server.auth import ROOMS_SCOPE, AuthError, TokenAuthority
from voxroom.server.room_messages import RoomMessageHub
from voxroom.transport.webrtc import tuning
from voxroom.worker.presence import live_workers
from voxroom.worker.redis_dispatch import Fleet, FleetRooms, FleetSessions

log = logging.getLogger(__name__)

FLEET = web.AppKey("fleet", Fleet)
FLEET_ROOMS = web.AppKey("fleet_rooms", FleetRooms)
API_AUTHORITY = web.AppKey("api_authority", TokenAuthority)


def create_api_app(config: VoxroomConfig, authority: TokenAuthority) -> web.Application:
    tuning.apply(config.transport.jitter_prefetch, config.transport.ice_addresses)
    app = base_app(config)
    fleet = Fleet(config)
    rooms = FleetRooms(fleet)
    hub = RoomMessageHub()
    app[FLEET] = fleet
    app[FLEET_ROOMS] = rooms
    app[API_AUTHORITY] = authority
    add_call_routes(app, config, authority, FleetSessions(fleet), rooms, hub)
    app.router.add_get("/api/v1/health", _health)
    app.router.add_get("/api/v1/fleet", _fleet)
    app.router.add_post("/api/v1/janus/events", _janus_events)
    audit: list[AuditService] = []
    add_audit_routes(app, lambda: audit[0] if audit else None, authority, config.audit)
    bridge: list[asyncio.Task[None]] = []

    async def start(_: web.Application) -> None:
        await fleet.start()
        bridge.append(asyncio.create_task(_bridge_direct(fleet, hub)))
        if config.audit.enabled:  # the fleet's one store: the audit API reads it
            service = AuditService(config)
            await service.start()
            audit.append(service)

    async def stop(_: web.Application) -> None:
        for task in bridge:
            task.cancel()
        await asyncio.gather(*bridge, return_exceptions=True)
        if audit:
            await audit[0].close()
        await fleet.close()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app


async def _bridge_direct(fleet: Fleet, hub: RoomMessageHub) -> None:
    """Messages for some people of a room, from any worker, to this node's connections."""
    while True:
        pubsub = fleet.redis.pubsub()
        try:
            await pubsub.subscribe(fleet.keys.direct)
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    data = json.loads(message["data"])
                    if data.get("end"):
                        hub.end_room(str(data["room"]))
                    else:
                        hub.deliver(str(data["room"]), frozenset(data["to"]), data["message"])
        except (OSError, RedisError) as exc:
            log.warning("direct messages: Redis unreachable (%s); resubscribing", exc)
            await asyncio.sleep(1.0)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()


async def _health(request: web.Request) -> web.Response:
    fleet = request.app[FLEET]
    try:
        agents = await fleet.agents()
    except (OSError, RedisError) as exc:
        return web.json_response({"status": "redis unreachable", "error": str(exc)}, status=503)
    return web.json_response({"status": "ok", "role": "api", "agents": agents})


async def _fleet(request: web.Request) -> web.Response:
    try:
        request.app[API_AUTHORITY].verify(request.headers.get("Authorization"), ROOMS_SCOPE)
    except AuthError as exc:
        return web.json_response({"error": str(exc)}, status=401)
    fleet = request.app[FLEET]
    workers: dict[str, Any] = {}
    for worker, figures in (await live_workers(fleet.redis, fleet.keys)).items():
        workers[worker] = {k: _number(v) for k, v in figures.items()}
    return web.json_response({"workers": workers, "janus": await fleet.janus.loads()})


def _number(value: str) -> Any:
    for kind in (int, float):
        with contextlib.suppress(ValueError):
            return kind(value)
    with contextlib.suppress(ValueError):
        return json.loads(value)
    return value


async def _janus_events(request: web.Request) -> web.Response:
    """Janus's event handler posts here (grouped: a JSON array). A publisher joining a room
    whose agent waits for people dispatches it."""
    fleet = request.app[FLEET]
    expected = fleet.config.fleet.webhook_key
    if not expected or not hmac.compare_digest(request.query.get("key", ""), expected):
        return web.json_response({"error": "bad or missing webhook key"}, status=403)
    urls = fleet.janus.urls
    try:
        janus_url = urls[int(request.query.get("janus", "0"))]
        body = await request.json()
    except (ValueError, IndexError):
        return web.json_response({"error": "janus=<index of VOXROOM_ROOMS__JANUS>"}, status=400)
    for event in body if isinstance(body, list) else [body]:
        room = _joined_room(event)
        if room is not None:
            await request.app[FLEET_ROOMS].join_requested(janus_url, room)
    return web.Response()


def _joined_room(event: object) -> int | None:
    """The VideoRoom number a person (not an agent) joined, from a plugin event."""
    if not isinstance(event, dict) or event.get("type") != 64:
        return None
    data = (event.get("event") or {}).get("data") or {}
    if not isinstance(data, dict) or data.get("event") != "joined":
        return None
    with contextlib.suppress(ValueError, TypeError):
        if json.loads(str(data.get("display") or "{}")).get("ai"):
            return None  # an agent joining is no reason to send one
    room = data.get("room")
    return room if isinstance(room, int) else None
