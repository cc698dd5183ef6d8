"""`voxroom bench …`: the benchmarks (real sessions, real models), one command each."""

from __future__ import annotations

import os
import signal
import sys
from typing import Annotated

import typer

from voxroom.config import VoxroomConfig
from voxroom.logs import setup_logging

bench_app = typer.Typer(help="Benchmarks (real sessions, real models).", no_args_is_help=True)

JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON only.")]
LlmChoice = Annotated[
    str | None,
    typer.Option(
        help="LLM to score (default: VOXROOM_MODELS__LLM): 'gemma3-270m' (packaged), a .gguf "
        "path, or an OpenAI-compatible base URL."
    ),
]
LlmModelName = Annotated[
    str | None, typer.Option(help="`model` field sent to an OpenAI-compatible endpoint.")
]


def _use_llm(llm: str | None, llm_model: str | None) -> None:
    """The bench's servers and providers read the LLM from the environment."""
    if llm is not None:
        os.environ["VOXROOM_MODELS__LLM"] = llm
    if llm_model is not None:
        os.environ["VOXROOM_MODELS__LLM_MODEL_NAME"] = llm_model


def _in_private_namespace() -> str:
    """Re-execute under `unshare` unless already in a private network namespace; returns
    the interface Janus gathers on (logging set up)."""
    from voxroom.bench.netns import ensure_private_namespace

    interface = ensure_private_namespace([sys.executable, "-m", "voxroom", *sys.argv[1:]])
    setup_logging(False)
    return interface


@bench_app.callback()
def bench_settings() -> None:
    # Bad VOXROOM_* settings: one line now, not a benchmark server that fails to start later.
    VoxroomConfig.from_env()
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so the servers and peers a bench
    # started are stopped by its `finally` blocks instead of outliving it.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    from voxroom.bench.harness import terminate_children

    terminate_children()  # its servers, Janus, workers: they stop even if unwinding hangs
    # asyncio.run cancels the bench's tasks on the way out and waits for them: one that
    # swallows its cancellation (an aiortc peer closing) would hang the exit forever.
    signal.alarm(15)  # SIGALRM's default action ends the process
    raise SystemExit(128 + signum)


@bench_app.command("latency")
def bench_latency(
    turns: Annotated[int, typer.Option(min=1, help="Spoken questions to time.")] = 5,
    json_out: JsonOut = False,
) -> None:
    """Voice-to-voice latency over real aiortc sessions with the local models."""
    from voxroom.bench.latency import print_report, run_latency_bench

    setup_logging(False)
    report = run_latency_bench(turns)
    print_report(report, json_out)


@bench_app.command("overhead")
def bench_overhead(
    turns: Annotated[int, typer.Option(min=1, help="Measured turns per framework.")] = 30,
    anchors: Annotated[bool, typer.Option(help="Also measure Pipecat and LiveKit Agents.")] = True,
    reinstall: Annotated[bool, typer.Option(help="Rebuild the anchors' venvs.")] = False,
    json_out: JsonOut = False,
) -> None:
    """Framework overhead (end of turn decided → first TTS audio), voxroom vs the anchors."""
    from voxroom.bench.overhead import print_overhead_report, run_overhead_bench

    setup_logging(False)
    print_overhead_report(run_overhead_bench(turns, anchors=anchors, reinstall=reinstall), json_out)


@bench_app.command("video")
def bench_video(
    seconds: Annotated[
        float, typer.Option(min=5, help="Seconds of camera video to stream (2 s warm-up).")
    ] = 20.0,
    fps: Annotated[float, typer.Option(min=1, max=60, help="Camera frame rate.")] = 15.0,
    json_out: JsonOut = False,
) -> None:
    """Face agent video: processed fps, drops, camera→annotated-frame delay, box hit rate."""
    from voxroom.bench.video import print_report, run_video_bench

    setup_logging(False)
    print_report(run_video_bench(seconds, fps), json_out)


@bench_app.command("browser")
def bench_browser(
    oracle: Annotated[
        bool, typer.Option(help="A scripted chooser that picks the gold step (tests plumbing).")
    ] = False,
    llm: LlmChoice = None,
    llm_model: LlmModelName = None,
    vision: Annotated[
        bool, typer.Option(help="Send each page's screenshot (vision LLMs).")
    ] = False,
    tasks: Annotated[
        str | None, typer.Option(help="Comma-separated task ids (default: all).")
    ] = None,
    json_out: JsonOut = False,
) -> None:
    """Browser agent on the local test sites: Mind2Web element accuracy, step and task success."""
    from voxroom.bench.browser import print_report, run_browser_bench

    _use_llm(llm, llm_model)
    setup_logging(False)
    only = [t.strip() for t in tasks.split(",")] if tasks else None
    print_report(run_browser_bench(oracle, vision=vision, only=only), json_out)


@bench_app.command("turns")
def bench_turns(
    quick: Annotated[bool, typer.Option(help="A smaller set (as CI runs it).")] = False,
    json_out: JsonOut = False,
) -> None:
    """Turn-taking eval: barge-in stop latency, false cut-offs/interruptions, end-of-turn delay."""
    from voxroom.bench.turns import print_turns_report, run_turns_bench

    setup_logging(False)
    print_turns_report(run_turns_bench(quick=quick), json_out)


@bench_app.command("answers")
def bench_answers(
    quick: Annotated[bool, typer.Option(help="A smaller set (as the tests run it).")] = False,
    tuning_only: Annotated[
        bool, typer.Option(help="Ask only the tuning half (for work on prompts and settings).")
    ] = False,
    llm: LlmChoice = None,
    llm_model: LlmModelName = None,
    json_out: JsonOut = False,
) -> None:
    """Answer quality with the configured LLM: accuracy, repeats in long calls, tool use."""
    from voxroom.bench.answers import print_answers_report, run_answers_bench

    _use_llm(llm, llm_model)
    setup_logging(False)
    print_answers_report(run_answers_bench(quick=quick, tuning_only=tuning_only), json_out)


@bench_app.command("sessions")
def bench_sessions(
    quick: Annotated[bool, typer.Option(help="Steps 1, 2, 4 with short windows.")] = False,
    max_sessions: Annotated[int, typer.Option(min=1, help="Largest step of the ramp.")] = 48,
    dtx: Annotated[
        bool, typer.Option(help="Agent Opus DTX (the default); --no-dtx: 50 packets/s idle.")
    ] = True,
    json_out: JsonOut = False,
) -> None:
    """Concurrent two-way voice sessions: sessions per core, idle CPU and memory per session."""
    from voxroom.bench.sessions import print_sessions_report, run_sessions_bench

    setup_logging(False)
    report = run_sessions_bench(quick=quick, max_sessions=max_sessions, dtx=dtx)
    print_sessions_report(report, json_out)


@bench_app.command("capacity")
def bench_capacity(
    quick: Annotated[bool, typer.Option(help="Levels 1 and 2, two turns each.")] = False,
    compare: Annotated[
        bool,
        typer.Option(
            help="First the same ramp with model sharing off (one LLM generation at a time, "
            "one transcription per call), in the same run."
        ),
    ] = False,
    max_sessions: Annotated[int, typer.Option(min=1, help="Largest level of the ramp.")] = 24,
    turns: Annotated[int, typer.Option(min=1, help="Questions per session per level.")] = 3,
    max_p90_ms: Annotated[
        float, typer.Option(min=1, help="A level holds while p90 voice-to-voice is within this.")
    ] = 1500.0,
    json_out: JsonOut = False,
) -> None:
    """Talking sessions, each asking a spoken question every few seconds, added until p90
    voice-to-voice passes --max-p90-ms.

    Runs in a private network namespace (re-executing itself under `unshare`)."""
    import dataclasses

    from voxroom.bench.capacity import CapacitySettings, print_capacity_report, run_capacity_bench

    _in_private_namespace()
    base = CapacitySettings.quick() if quick else CapacitySettings(turns_per_level=turns)
    settings = dataclasses.replace(
        base,
        levels=tuple(n for n in base.levels if n <= max_sessions),
        compare=compare,
        max_p90_ms=max_p90_ms,
    )
    print_capacity_report(run_capacity_bench(settings), json_out)


@bench_app.command("rooms")
def bench_rooms(
    quick: Annotated[
        bool, typer.Option(help="A small script and at most 2 rooms (as CI runs it).")
    ] = False,
    max_rooms: Annotated[
        int, typer.Option(min=1, help="Largest step of the concurrent-rooms ramp.")
    ] = 8,
    json_out: JsonOut = False,
) -> None:
    """Rooms: speaker attribution, addressed precision/recall, v2v vs peer to peer, rooms held.

    Runs in a private network namespace (re-executing itself under `unshare`)."""
    from voxroom.bench.rooms import RoomsSettings, print_rooms_report, run_rooms_bench
    from voxroom.bench.rooms_ramp import RampConfig

    interface = _in_private_namespace()
    settings = (
        RoomsSettings.quick(min(max_rooms, 2))
        if quick
        else RoomsSettings(ramp=RampConfig(max_rooms=max_rooms))
    )
    print_rooms_report(run_rooms_bench(interface, settings), json_out)


@bench_app.command("assist")
def bench_assist(
    json_out: JsonOut = False,
) -> None:
    """Agent-assist copilot in a real room: suggestion delay, hit rate, false suggestions, leaks.

    Runs in a private network namespace (re-executing itself under `unshare`)."""
    from voxroom.bench.assist import print_assist_report, run_assist_bench

    interface = _in_private_namespace()
    print_assist_report(run_assist_bench(interface), json_out)


@bench_app.command("translate")
def bench_translate(
    json_out: JsonOut = False,
) -> None:
    """Live translator in a real room: caption delay and key-word recall of English captions.

    Runs in a private network namespace (re-executing itself under `unshare`)."""
    from voxroom.bench.translate import print_translate_report, run_translate_bench

    interface = _in_private_namespace()
    print_translate_report(run_translate_bench(interface), json_out)


@bench_app.command("fleet")
def bench_fleet(
    rooms: Annotated[int, typer.Option(min=1, max=16, help="Rooms, one person in each.")] = 6,
    json_out: JsonOut = False,
) -> None:
    """A local fleet through a drain and a kill -9: dispatch and re-dispatch times, losses.

    Runs in a private network namespace (re-executing itself under `unshare`)."""
    from voxroom.bench.fleet import print_fleet_report, run_fleet_bench

    interface = _in_private_namespace()
    print_fleet_report(run_fleet_bench(interface, rooms), json_out)


@bench_app.command("soak")
def bench_soak(
    duration: Annotated[float, typer.Option(min=1, help="Seconds of session churn.")] = 600.0,
    audit: Annotated[
        bool, typer.Option(help="--no-audit: the server keeps no audit log or recordings.")
    ] = True,
    memory_report: Annotated[
        bool,
        typer.Option(
            help="Server memory reports and tracemalloc snapshots at the baseline, at sessions "
            "100 and 1000, and at the end, with their diffs (slower server)."
        ),
    ] = False,
    trace_frames: Annotated[
        int, typer.Option(min=1, max=64, help="Frames per traced allocation (--memory-report).")
    ] = 1,
    json_out: JsonOut = False,
) -> None:
    """Session churn with vanishing/killed peers: sessions, errors, memory and fd growth."""
    from voxroom.bench.soak import print_soak_report, run_soak_bench

    setup_logging(False)
    report = run_soak_bench(
        duration, audit=audit, memory_report=memory_report, trace_frames=trace_frames
    )
    print_soak_report(report, json_out)
