"""Run a fleet worker as a process: models, the worker, its HTTP endpoints, signals.

`/health` answers 200 while the process runs (with its load), `/ready` 200 only while it
takes jobs (503 draining, full, or over its memory limit: an orchestrator's readiness probe),
`/metrics` the worker's load gauges and its sessions' metrics (Prometheus).

SIGTERM or SIGINT drains the worker (see `runner`), then the process exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Mapping

from aiohttp import web

from voxroom.agent.agent import Agent
from voxroom.config import VoxroomConfig
from voxroom.server.metrics import add_metrics_route
from voxroom.transport.webrtc import tuning
from voxroom.worker.runner import FleetWorker

log = logging.getLogger(__name__)
WORKER = web.AppKey("worker", FleetWorker)


def agent_names(specs: list[str]) -> dict[str, type[Agent]]:
    """`--agent` specs (module:Class, or a shipped agent's short name) → every name a worker
    takes jobs for: each class's own name, and the short name the rooms API knows it by."""
    from voxroom.apps import SHIPPED
    from voxroom.runner import load_agent_class

    names: dict[str, type[Agent]] = {}
    for spec in specs:
        path = SHIPPED.get(spec, spec)
        agent_class = load_agent_class(path)
        names.setdefault(agent_class.name, agent_class)
        for short, shipped in SHIPPED.items():
            if shipped == path:
                names.setdefault(short, agent_class)
    return names


def worker_app(worker: FleetWorker) -> web.Application:
    app = web.Application()
    app[WORKER] = worker
    app.router.add_get("/health", _health)
    app.router.add_get("/ready", _ready)
    add_metrics_route(app, worker.metrics)
    return app


def _figures(worker: FleetWorker) -> dict[str, object]:
    load = worker.load()
    return {
        "worker": worker.id,
        "agents": list(worker.agents),
        "sessions": load.sessions,
        "capacity": load.capacity,
        "draining": load.draining,
        "memory_full": worker.presence.memory_full,
        "inbound_backlog_frames": load.inbound_backlog_frames,
    }


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", **_figures(request.app[WORKER])})


async def _ready(request: web.Request) -> web.Response:
    worker = request.app[WORKER]
    figures = _figures(worker)
    if worker.ready:
        return web.json_response({"status": "ready", **figures})
    why = "draining" if worker.draining else "memory limit" if worker.presence.memory_full else (
        "full")  # fmt: skip
    return web.json_response({"status": why, **figures}, status=503)


def serve_worker(config: VoxroomConfig, agents: Mapping[str, type[Agent]]) -> None:
    """Load the models, start the worker and its endpoints; return once it has drained."""
    from voxroom.providers.factory import load_models
    from voxroom.providers.models import ModelCache
    from voxroom.runner import check_listen
    from voxroom.server.memory import freeze_startup_objects, limit_malloc_arenas

    port = config.fleet.worker_port
    if port:
        check_listen(config.server.host, port)
    limit_malloc_arenas()
    tuning.apply(config.transport.jitter_prefetch, config.transport.ice_addresses)
    ModelCache(config.models.cache_dir).prepare_all()
    log.info("loading models (VAD, STT %s, LLM %s, TTS %s)", config.models.stt,
             config.models.llm, config.models.tts)  # fmt: skip
    models = load_models(config.models)
    worker = FleetWorker(config, models, agents)
    freeze_startup_objects()
    asyncio.run(_run(worker, config))


async def _run(worker: FleetWorker, config: VoxroomConfig) -> None:
    await worker.start()
    runner = web.AppRunner(worker_app(worker), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.server.host, config.fleet.worker_port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else config.fleet.worker_port
    worker.presence.health_url = f"http://{config.server.host}:{bound}"
    print(f"voxroom worker {worker.id}: ready, health at {worker.presence.health_url}/health",
          flush=True)  # fmt: skip
    loop = asyncio.get_running_loop()
    drain: asyncio.Task[None] | None = None

    def on_signal() -> None:
        nonlocal drain
        if drain is None:
            drain = asyncio.ensure_future(worker.drain())

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    try:
        await worker.stopped.wait()
    finally:
        await runner.cleanup()
