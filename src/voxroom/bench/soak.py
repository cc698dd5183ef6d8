"""`voxroom bench soak`: many sessions over time against one server; nothing may stay behind.

Compressed time: instead of a few long calls, load-client processes (`soak_worker.py`) run
short session lifecycles back to back (several at once), so a 10-minute run goes through
hundreds of the joins, chats and departures that a day of real traffic brings:

- chat: connect, send a `chat` message or two, wait for the agent's final transcript, DELETE;
- speak: connect, say a spoken question (espeak-ng), wait for the agent's reply, DELETE;
- idle: connect, hold a few seconds of near-silence, DELETE;
- vanish: connect, sometimes ask something, then close the peer connection without a DELETE
  (mid-reply or idle), as a closed tab does;
- abandon: POST a real offer, take the answer and never complete ICE, then disappear;
- kill: every `kill_every_s`, a whole load-client process is killed with SIGKILL (its live
  sessions vanish without a word: the server has only ICE consent expiry to notice).

Measured on the server process (psutil): RSS and open fds at a quiet point after a warm-up of
clean sessions, and again after the run once the server says it has no live session left
(`/api/v1/health`), waiting up to `reap_timeout_s` for vanished peers to time out.
`mem_growth_mb_per_1000_sessions` scales that growth by the sessions started in between.
With `memory_report` the server runs with its memory report and tracemalloc on
(`server/memory_report.py`): reports and snapshots at the quiet baseline, when the session
count passes each of `snapshots_at`, and at the quiet end; the report's `memory` holds them,
the diffs between them (Python lines that kept memory), and what malloc_trim (free memory
kept resident), a full gc collection (garbage in cycles) and malloc_trim again gave back at
the end. Errors are
client-side failures of what should have worked, ERROR lines in the server log, and failed
health checks. A server that never reaps some sessions shows as `sessions_left` > 0.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.table import Table

from voxroom.bench.load import (
    LoadServer,
    ProcessProbe,
    health,
    load_server,
    slope,
    wait_for_sessions,
)
from voxroom.bench.memory_probe import MemoryProbe, memory_env
from voxroom.bench.soak_worker import REPLY_TIMEOUT_S, SCENARIOS
from voxroom.bench.workers import WorkerProcess

WORKER_MODULE = "voxroom.bench.soak_worker"
QUESTIONS = ["What is the capital of France?", "How many days are in a week?"]
SAMPLE_EVERY_S = 5.0


@dataclass
class SoakState:
    sessions: int = 0
    scenarios: Counter[str] = field(default_factory=Counter)
    client_errors: list[str] = field(default_factory=list)
    health_failures: list[str] = field(default_factory=list)
    kills: int = 0
    killed_sessions: int = 0
    samples: list[dict[str, float]] = field(default_factory=list)


class Soak:
    def __init__(
        self,
        server: LoadServer,
        workdir: Path,
        speech: list[Path],
        seed: int,
        scenarios: list[str],
        memory: MemoryProbe | None = None,
        snapshots_at: tuple[int, ...] = (),
    ) -> None:
        self.server = server
        self.memory = memory
        self._snapshots_at = sorted(snapshots_at)
        self._checkpoints: list[asyncio.Task[None]] = []
        self.scenarios = scenarios
        self.workdir = workdir
        self.speech = speech
        self.probe = ProcessProbe(server.process)
        self.state = SoakState()
        self.rng = random.Random(seed)
        self._spawned = 0
        self.live: dict[WorkerProcess, int] = {}
        self._consumers: list[asyncio.Task[None]] = []

    async def spawn(self, seconds: float, slots: int, clean: bool) -> WorkerProcess:
        self._spawned += 1
        args = [
            *("--worker", self.server.url, "--seed", str(self.rng.randrange(2**31))),
            *("--slots", str(slots), "--seconds", f"{seconds:.1f}"),
            *(["--clean"] if clean else ["--scenarios", ",".join(self.scenarios)]),
            *(["--speech", *map(str, self.speech)] if self.speech else []),
        ]
        path = self.workdir / f"worker{self._spawned}.log"
        worker = await WorkerProcess.start(WORKER_MODULE, args, path)
        self.live[worker] = 0
        self._consumers.append(asyncio.ensure_future(self._consume(worker)))
        return worker

    async def _consume(self, worker: WorkerProcess) -> None:
        state = self.state
        while True:
            line = await worker.lines.get()
            event = line.get("event")
            if event == "started":
                state.sessions += 1
                if self._snapshots_at and state.sessions >= self._snapshots_at[0]:
                    self._checkpoint(f"s{self._snapshots_at.pop(0)}")
                self.live[worker] = int(line["live"])
            elif event == "live":
                self.live[worker] = int(line["live"])
            elif event == "result":
                state.scenarios[str(line["scenario"])] += 1
                if not line["ok"]:
                    state.client_errors.append(f"{line['scenario']}: {line['error']}")
            elif event in ("done", "exited"):
                return

    def _checkpoint(self, label: str) -> None:
        if self.memory is not None:
            self._checkpoints.append(asyncio.ensure_future(self._take(label)))

    async def _take(self, label: str) -> None:
        assert self.memory is not None
        async with aiohttp.ClientSession() as http:
            await self.memory.checkpoint(http, label)

    async def memory_figures(self, http: aiohttp.ClientSession) -> dict[str, Any]:
        """The run's memory checkpoints, their diffs, and at the end: malloc_trim (free memory
        the server kept resident), a full gc collection (garbage in cycles), malloc_trim again
        (RSS with both given back)."""
        assert self.memory is not None
        await asyncio.gather(*self._checkpoints)
        memory = self.memory
        labels = ["baseline", *(x for x in memory.reports if x.startswith("s")), "end"]
        taken = [x for x in labels if x in memory.snapshots]
        pairs = list(itertools.pairwise(taken))
        if len(taken) > 2:
            pairs.append((taken[0], taken[-1]))
        diffs = {f"{a}->{b}": await memory.diff(http, a, b) for a, b in pairs}
        if len(taken) >= 2:  # where the biggest growths came from (with more than one frame)
            first, last = taken[0], taken[-1]
            diffs[f"{first}->{last} by traceback"] = await memory.diff(
                http, first, last, limit=8, by="traceback"
            )
        return {
            "reports": memory.reports,
            "diffs": diffs,
            "trim_at_end": await memory.trim(http),
            "collect_at_end": await memory.collect(http),
            "trim_after_collect": await memory.trim(http),
            "errors": memory.errors,
        }

    async def phase(
        self,
        http: aiohttp.ClientSession,
        seconds: float,
        workers: int,
        slots: int,
        clean: bool,
        kill_every_s: float | None,
    ) -> None:
        """Run `workers` load processes for `seconds`; kill one now and then (not in clean
        phases) and start a replacement for the time left."""
        deadline = time.monotonic() + seconds
        running = [await self.spawn(seconds, slots, clean) for _ in range(workers)]
        next_kill = time.monotonic() + kill_every_s if kill_every_s else float("inf")
        next_sample = time.monotonic()
        while time.monotonic() < deadline:
            now = time.monotonic()
            if now >= next_sample:
                await self.sample(http)
                next_sample = now + SAMPLE_EVERY_S
            if now >= next_kill and deadline - now > 5:
                victims = [w for w in running if self.live.get(w, 0) > 0]
                if victims:
                    victim = self.rng.choice(victims)
                    self.state.kills += 1
                    self.state.killed_sessions += self.live.get(victim, 0)
                    victim.kill()
                    await victim.wait()
                    running.remove(victim)
                    running.append(await self.spawn(deadline - now, slots, clean))
                    next_kill = now + (kill_every_s or 0)
            await asyncio.sleep(0.5)
        # Workers stop starting scenarios at the deadline and finish the ones under way.
        for worker in running:
            await worker.wait(timeout=REPLY_TIMEOUT_S + 30)
        await asyncio.gather(*self._consumers, return_exceptions=True)
        self._consumers.clear()

    async def sample(self, http: aiohttp.ClientSession) -> dict[str, float]:
        try:
            sessions = float(await health(http, self.server.url))
        except Exception as exc:
            self.state.health_failures.append(f"{type(exc).__name__}: {exc}"[:200])
            sessions = -1.0
        record = {
            "t": round(time.monotonic(), 1),
            "sessions": sessions,
            "rss_mb": round(self.probe.rss_mb(), 1),
            "fds": float(self.probe.fds()),
            "threads": float(self.probe.threads()),
        }
        self.state.samples.append(record)
        return record


async def _soak(
    server: LoadServer,
    workdir: Path,
    speech: list[Path],
    *,
    duration_s: float,
    warmup_s: float,
    workers: int,
    slots: int,
    kill_every_s: float | None,
    reap_timeout_s: float,
    seed: int,
    scenarios: list[str],
    memory_report: bool = False,
    snapshots_at: tuple[int, ...] = (),
) -> dict[str, Any]:
    memory = MemoryProbe(server.url) if memory_report else None
    soak = Soak(server, workdir, speech, seed, scenarios, memory, snapshots_at)
    memory_figures: dict[str, Any] | None = None
    async with aiohttp.ClientSession() as http:
        # Warm-up with sessions that all end cleanly, so every model and pool is in use once.
        await soak.phase(http, warmup_s, workers, slots, clean=True, kill_every_s=None)
        settled, left, _ = await wait_for_sessions(http, server.url, 0, timeout=30)
        if not settled:
            raise RuntimeError(f"{left} sessions still live after the clean warm-up")
        await asyncio.sleep(1.0)
        if memory is not None:
            await memory.checkpoint(http, "baseline")
        baseline = await soak.sample(http)
        sessions_at_baseline = soak.state.sessions
        started = time.monotonic()
        await soak.phase(http, duration_s, workers, slots, clean=False, kill_every_s=kill_every_s)
        ran_s = time.monotonic() - started
        drained, left, drain_s = await wait_for_sessions(
            http, server.url, 0, timeout=reap_timeout_s
        )
        await asyncio.sleep(1.0)
        end = await soak.sample(http)
        if memory is not None:
            await memory.checkpoint(http, "end")
            memory_figures = await soak.memory_figures(http)
    state = soak.state
    measured = state.sessions - sessions_at_baseline
    growth = end["rss_mb"] - baseline["rss_mb"]
    server_errors = server.errors()
    alive = server.process.is_running()
    errors = [
        *(f"client: {e}" for e in state.client_errors),
        *(f"server log: {block.splitlines()[0]}" for block in server_errors),
        *(f"health: {e}" for e in state.health_failures),
        *([] if alive else ["server process died"]),
    ]
    main = [s for s in state.samples if baseline["t"] <= s["t"] < end["t"]]
    half = main[len(main) // 2 :]
    all_slope = slope([s["t"] / 60 for s in main], [s["rss_mb"] for s in main])
    late_slope = slope([s["t"] / 60 for s in half], [s["rss_mb"] for s in half])
    return {
        "sessions": state.sessions,
        "errors": len(errors),
        "mem_growth_mb": round(growth, 1),
        # Sessions started between the two quiet points (the warm-up's are not in it).
        "mem_growth_mb_per_1000_sessions": round(1000 * growth / max(1, measured), 1),
        "sessions_measured": measured,
        "fd_growth": int(end["fds"] - baseline["fds"]),
        "thread_growth": int(end["threads"] - baseline["threads"]),
        "sessions_left": left,
        "drained": drained,
        "drain_s": drain_s,
        "duration_s": round(ran_s, 1),
        "scenarios": dict(sorted(state.scenarios.items())),
        "kills": state.kills,
        "killed_sessions": state.killed_sessions,
        "baseline": baseline,
        "end": end,
        "rss_max_mb": max((s["rss_mb"] for s in main), default=end["rss_mb"]),
        "fds_max": int(max((s["fds"] for s in main), default=end["fds"])),
        # RSS trend under load (least squares): a leak keeps climbing, allocator warm-up
        # flattens out in the second half.
        "rss_slope_mb_per_min": None if all_slope is None else round(all_slope, 2),
        "rss_slope_late_mb_per_min": None if late_slope is None else round(late_slope, 2),
        "error_details": errors[:50],
        "server_errors": server_errors[:10],  # with their tracebacks
        "samples": [{**s, "t": round(s["t"] - baseline["t"], 1)} for s in state.samples],
        **({"memory": memory_figures} if memory_figures is not None else {}),
    }


def _speech_files(workdir: Path) -> list[Path]:
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        return []  # "speak" falls back to "chat"
    from voxroom.bench.harness import espeak_wav

    return [
        espeak_wav(text, workdir / f"speech{index}.wav", lead_s=0.2, tail_s=0.2)
        for index, text in enumerate(QUESTIONS)
    ]


def run_soak_bench(
    duration_s: float = 600.0,
    *,
    workers: int = 2,
    slots_per_worker: int = 3,
    kill_every_s: float | None = 60.0,
    warmup_s: float | None = None,
    reap_timeout_s: float = 90.0,
    seed: int = 1,
    scenarios: list[str] | None = None,
    audit: bool = True,
    memory_report: bool = False,
    trace_frames: int = 1,
    snapshots_at: tuple[int, ...] = (100, 1000),
) -> dict[str, Any]:
    """Soak one real server with `workers` × `slots_per_worker` concurrent session lifecycles
    for `duration_s` (after a clean warm-up); returns the report (see module doc).

    scenarios: a subset of SCENARIOS to run (default all); kill_every_s=None: no kills;
    audit=False: the server runs without its audit log and recordings (to tell leaks apart);
    memory_report: reports and tracemalloc snapshots (`trace_frames` frames) at the baseline,
    at the session counts `snapshots_at` and at the end (see the module doc)."""
    chosen = list(SCENARIOS) if scenarios is None else list(scenarios)
    if unknown := set(chosen) - set(SCENARIOS):
        raise ValueError(f"unknown scenarios {sorted(unknown)}; choose from {list(SCENARIOS)}")
    warmup = warmup_s if warmup_s is not None else min(30.0, max(10.0, duration_s / 10))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="voxroom-soak-") as tmp:
        workdir = Path(tmp)
        speech = _speech_files(workdir)
        concurrency = workers * slots_per_worker
        env = memory_env(workdir / "memory", trace_frames) if memory_report else None
        with load_server(
            workdir, max_sessions=max(32, 4 * concurrency), audit=audit, env=env
        ) as server:
            report = asyncio.run(
                _soak(
                    server,
                    workdir,
                    speech,
                    duration_s=duration_s,
                    warmup_s=warmup,
                    workers=workers,
                    slots=slots_per_worker,
                    kill_every_s=kill_every_s,
                    reap_timeout_s=reap_timeout_s,
                    seed=seed,
                    scenarios=chosen,
                    memory_report=memory_report,
                    snapshots_at=snapshots_at if memory_report else (),
                )
            )
    report["config"] = {
        "duration_s": duration_s,
        "warmup_s": warmup,
        "workers": workers,
        "slots_per_worker": slots_per_worker,
        "kill_every_s": kill_every_s,
        "reap_timeout_s": reap_timeout_s,
        "seed": seed,
        "weights": {name: SCENARIOS[name] for name in chosen},
        "speech": bool(speech),
        "audit": audit,
        "memory_report": memory_report,
        "trace_frames": trace_frames if memory_report else 0,
    }
    report["run_s"] = round(time.monotonic() - started, 1)
    return report


def print_soak_report(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    console = Console()
    table = Table("figure", "value")
    for key in (
        "sessions", "errors", "mem_growth_mb", "mem_growth_mb_per_1000_sessions", "fd_growth",
        "thread_growth", "sessions_left",
        "drain_s", "duration_s", "kills", "killed_sessions", "rss_max_mb", "fds_max",
        "rss_slope_mb_per_min", "rss_slope_late_mb_per_min",
    ):  # fmt: skip
        table.add_row(key, str(report[key]))
    table.add_row("scenarios", ", ".join(f"{k} {v}" for k, v in report["scenarios"].items()))
    console.print(table)
    if report["sessions_left"]:
        console.print(
            f"[red]{report['sessions_left']} sessions still live {report['drain_s']} s after "
            "the run: the server did not reap them"
        )
    for error in report["error_details"]:
        console.print(f"[yellow]{error}")
