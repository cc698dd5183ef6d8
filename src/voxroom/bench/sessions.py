"""`voxroom bench sessions`: how many idle two-way voice sessions one core holds in real time.

A real `voxroom dev` process (every model loaded) serves sessions from load clients that run
in other processes (several sessions each). Clients send near-silence in real time (quiet
noise, −60 dBFS); the agent sends its paced comfort frames back; the server runs Silero VAD on
every inbound block. That is the idle two-way load. The ramp adds sessions step by step
(1, 2, 4, 8, 12, …) and, after a warm-up, measures a window at each step:

- server: CPU of the whole process and of its event-loop thread (psutil, % of one core;
  the whole process can exceed 100 % because aiortc decodes/encodes in threads), RSS, fds;
- real time, seen from outside: each client counts the agent's audio frames over the window
  (50/s when the server keeps up: its outbound pacing runs on the same event loop as the
  VAD), the RTP packets lost each way (the server's own loss on our stream comes back in its
  RTCP receiver reports) and the inbound jitter the server measured on our stream;
- load clients and the whole machine: their CPU competes with the server's on a small host.

A step *holds N sessions in real time without frame loss* when all N sessions are up, every
session received 50 frames/s ± 2 % over the window (fewer: frames lost or falling behind;
more: a burst catching up after a stall), lost ≤ 1 % of packets each way, no session had
more than 10 inbound frames (200 ms) waiting to be processed at any sample (the server's
health endpoint, every 0.5 s), and the server's event-loop thread stayed under 95 % of a
core. A failing step is measured once more before
the ramp stops. `sessions_per_core` = the largest N that held ÷ max(1, the server process's
CPU in cores at that N); `limited_by` says whether the ramp ended at the server, at the whole
machine (server + clients saturating every core) or at the step cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from rich.console import Console
from rich.table import Table

from voxroom.bench.load import (
    DTX_FRAME_RATE,
    FRAME_RATE,
    LoadServer,
    ProcessProbe,
    cpu_seconds,
    load_server,
    machine_cpu_seconds,
    slope,
    wait_for_sessions,
)
from voxroom.bench.noise import NOISE_DBFS
from voxroom.bench.workers import WorkerProcess

# Steps of 2 from 20 on, where a 2-core machine's limit lies: the figure is the largest
# count that held, not that count rounded down to the ramp's last multiple of 4.
FULL_STEPS = [1, 2, 4, 8, 12, 16, 20, 22, 24, 26, 28, 30, 32, 36, 40, 44, 48]
QUICK_STEPS = [1, 2, 4]
# Frames per second from the agent against the expected rate: 50/s continuous; with DTX an
# idle agent's 2.5 keep-alives/s, of which a window holds ~20 (±1 at its edges, hence 10 %).
FPS_TOLERANCE = {False: 0.02, True: 0.10}  # by DTX
MAX_LATE_MS = 100.0  # a frame arriving later than this against its RTP timestamp: a stall
MAX_LOSS = 0.01
MAX_LOOP_CPU_PCT = 95.0
# Inbound audio frames waiting in the server (health's inbound_backlog_frames, sampled every
# BACKLOG_SAMPLE_S): the agent's paced output can stay at 50/s while its listening falls
# behind, which only this shows (and RSS, as the queues grow).
MAX_BACKLOG_FRAMES = 10
BACKLOG_SAMPLE_S = 0.5
MACHINE_SATURATED = 0.95  # busy share of all cores above which the whole machine is the limit
WORKER_MODULE = "voxroom.bench.sessions_worker"


# --- orchestration -----------------------------------------------------------------------
class Ramp:
    def __init__(self, server: LoadServer, workdir: Path, per_worker: int, dtx: bool) -> None:
        self.server = server
        self.workdir = workdir
        self.per_worker = per_worker
        self.dtx = dtx
        self.probe = ProcessProbe(server.process)
        self.workers: list[tuple[WorkerProcess, int]] = []  # (worker, sessions it holds)
        self.connect_errors: list[str] = []

    @property
    def sessions(self) -> int:
        return sum(count for _, count in self.workers)

    async def grow_to(self, target: int) -> bool:
        """Add sessions up to `target`, filling workers `per_worker` at a time; False when
        some failed to connect (the step then shows them missing)."""
        while self.sessions < target:
            if not self.workers or self.workers[-1][1] >= self.per_worker:
                path = self.workdir / f"worker{len(self.workers)}.log"
                worker = await WorkerProcess.start(
                    WORKER_MODULE, ["--worker", self.server.url], path
                )
                self.workers.append((worker, 0))
            worker, held = self.workers[-1]
            count = min(self.per_worker - held, target - self.sessions)
            reply = await worker.request({"cmd": "add", "count": count}, timeout=90)
            self.connect_errors.extend(reply.get("errors", []))
            self.workers[-1] = (worker, held + int(reply["ok"]))
            if reply["ok"] < count:
                return False
        return True

    async def _all(self, command: str) -> list[dict[str, Any]]:
        replies = await asyncio.gather(
            *(worker.request({"cmd": command}) for worker, _ in self.workers)
        )
        return list(replies)

    def client_processes(self) -> list[psutil.Process]:
        processes = []
        for worker, _ in self.workers:
            with contextlib.suppress(psutil.Error):
                processes.append(psutil.Process(worker.pid))
        return processes

    async def measure(self, window_s: float, expected: int | None = None) -> dict[str, Any]:
        clients = self.client_processes()
        server_start = self.probe.cpu()
        client_start, machine_start = cpu_seconds(clients), machine_cpu_seconds()
        wall_start = time.monotonic()
        await self._all("mark")
        backlog = await _max_backlog(self.server.url, window_s)
        replies = await self._all("window")
        server_end = self.probe.cpu()
        wall = time.monotonic() - wall_start
        client_pct = 100 * (cpu_seconds(clients) - client_start) / wall
        machine_pct = 100 * (machine_cpu_seconds() - machine_start) / wall
        server_pct, loop_pct = ProcessProbe.cpu_pct(server_start, server_end)
        sessions = [s for reply in replies for s in reply["sessions"]]
        return _step_figures(
            self.sessions if expected is None else expected,
            sessions,
            server_pct=server_pct,
            loop_pct=loop_pct,
            client_pct=client_pct,
            machine_pct=machine_pct,
            rss_mb=self.probe.rss_mb(),
            fds=self.probe.fds(),
            threads=self.probe.threads(),
            backlog_frames=backlog,
            dtx=self.dtx,
        )

    async def close(self) -> None:
        for worker, _ in self.workers:
            with contextlib.suppress(Exception):
                await worker.request({"cmd": "close"}, timeout=30)
            await worker.wait()


async def _max_backlog(url: str, window_s: float) -> int:
    """Sample the server's inbound backlog through the window; the largest seen."""
    deadline = time.monotonic() + window_s
    worst = 0
    async with aiohttp.ClientSession() as http:
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(BACKLOG_SAMPLE_S, left))
            async with http.get(f"{url}/api/v1/health") as response:
                body = await response.json()
            worst = max(worst, int(body.get("inbound_backlog_frames", 0)))
    return worst


def _step_figures(
    n: int,
    sessions: list[dict[str, Any]],
    *,
    server_pct: float,
    loop_pct: float,
    client_pct: float,
    machine_pct: float,
    rss_mb: float,
    fds: int,
    threads: int,
    dtx: bool,
    backlog_frames: int = 0,
) -> dict[str, Any]:
    cores = psutil.cpu_count() or 1
    fps = [float(s["fps"]) for s in sessions] or [0.0]
    late_ms = max((float(s["max_late_ms"]) for s in sessions), default=0.0)
    min_fps, max_fps = fps_bounds(dtx)
    in_loss = max(
        (s["in_lost"] / s["in_expected"] for s in sessions if s["in_expected"]), default=0.0
    )
    out_loss = max((s["out_lost"] / s["out_sent"] for s in sessions if s["out_sent"]), default=0.0)
    reasons = []
    if len(sessions) < n:
        reasons.append(f"{n - len(sessions)} sessions missing")
    if min(fps) < min_fps:
        reasons.append(f"min {min(fps):.1f} frames/s < {min_fps:.2f}")
    if max(fps) > max_fps:
        reasons.append(f"max {max(fps):.1f} frames/s > {max_fps:.2f} (late)")
    if late_ms > MAX_LATE_MS:
        reasons.append(f"a frame {late_ms:.0f} ms late")
    if in_loss > MAX_LOSS or out_loss > MAX_LOSS:
        reasons.append(f"packet loss {100 * max(in_loss, out_loss):.1f} %")
    if backlog_frames > MAX_BACKLOG_FRAMES:
        reasons.append(f"inbound backlog {backlog_frames} frames (falling behind)")
    if loop_pct >= MAX_LOOP_CPU_PCT:
        reasons.append(f"event loop {loop_pct:.0f} % of a core")
    if n == 0:
        reasons = []
    return {
        "sessions": n,
        "holds": not reasons,
        "reasons": reasons,
        "server_cpu_pct": round(server_pct, 1),
        "server_loop_cpu_pct": round(loop_pct, 1),
        "server_rss_mb": round(rss_mb, 1),
        "server_fds": fds,
        "server_threads": threads,
        "inbound_backlog_frames_max": backlog_frames,
        "client_cpu_pct": round(client_pct, 1),
        "machine_cpu_pct": round(machine_pct, 1),
        # Whatever else ran on the machine meanwhile (it skews a shared host's figures).
        "other_cpu_pct": round(max(0.0, machine_pct - server_pct - client_pct), 1),
        "machine_saturated": machine_pct >= MACHINE_SATURATED * 100 * cores,
        "fps_min": round(min(fps), 2),
        "fps_max": round(max(fps), 2),
        "fps_median": round(statistics.median(fps), 2),
        "max_gap_ms": round(max((s["max_gap_ms"] for s in sessions), default=0.0), 1),
        "max_late_ms": round(late_ms, 1),
        "loss_in_pct": round(100 * in_loss, 2),
        "loss_out_pct": round(100 * out_loss, 2),
        "server_jitter_ms_max": round(
            max((s["server_jitter_ms"] for s in sessions), default=0.0), 2
        ),
        "agent_messages": sum(int(s["agent_messages"]) for s in sessions),
    }


def fps_bounds(dtx: bool) -> tuple[float, float]:
    """The agent frames per second a session in real time receives, idle: (min, max)."""
    rate = DTX_FRAME_RATE if dtx else FRAME_RATE
    return rate * (1 - FPS_TOLERANCE[dtx]), rate * (1 + FPS_TOLERANCE[dtx])


def _summarize(
    baseline: dict[str, Any], steps: list[dict[str, Any]], cap_reached: bool
) -> dict[str, Any]:
    held = [s for s in steps if s["holds"]]
    points = [baseline, *held]
    n_max = max((s["sessions"] for s in held), default=0)
    at_max = next((s for s in reversed(held) if s["sessions"] == n_max), None)
    cores_used = at_max["server_cpu_pct"] / 100 if at_max else 0.0
    increments = [
        (b["server_cpu_pct"] - a["server_cpu_pct"]) / (b["sessions"] - a["sessions"])
        for a, b in itertools.pairwise(points)
        if b["sessions"] > a["sessions"]
    ]
    cpu_per_session = statistics.median(increments) if increments else None
    mem_slope = slope([p["sessions"] for p in points], [p["server_rss_mb"] for p in points])
    fd_slope = slope([p["sessions"] for p in points], [p["server_fds"] for p in points])
    client_per_session = [
        s["client_cpu_pct"] / s["sessions"] for s in held if s["sessions"] >= 4
    ] or [s["client_cpu_pct"] / s["sessions"] for s in held]
    failed = [s for s in steps if not s["holds"]]
    if cap_reached or not failed:
        limited_by = "cap"
    elif failed[-1]["machine_saturated"]:
        limited_by = "machine"
    else:
        limited_by = "server"
    return {
        "sessions_per_core": round(n_max / max(1.0, cores_used), 1),
        "idle_cpu_pct_per_session": round(cpu_per_session, 2) if cpu_per_session else None,
        "mem_mb_per_session": round(mem_slope, 2) if mem_slope is not None else None,
        "max_sessions_held": n_max,
        "server_cores_at_max": round(cores_used, 2),
        "limited_by": limited_by,
        # One core's worth at the measured per-session cost (what a server alone would hold).
        "projected_sessions_per_core": (
            int(MAX_LOOP_CPU_PCT // cpu_per_session) if cpu_per_session else None
        ),
        "idle_cpu_pct_per_session_fit": _rounded(
            slope([p["sessions"] for p in points], [p["server_cpu_pct"] for p in points])
        ),
        "loop_cpu_pct_per_session_fit": _rounded(
            slope([p["sessions"] for p in points], [p["server_loop_cpu_pct"] for p in points])
        ),
        "fds_per_session": _rounded(fd_slope),
        "client_cpu_pct_per_session": (
            round(statistics.median(client_per_session), 2) if client_per_session else None
        ),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


async def _ramp(
    server: LoadServer,
    workdir: Path,
    steps: list[int],
    warmup_s: float,
    window_s: float,
    per_worker: int,
    dtx: bool,
    log: logging.Logger,
) -> tuple[dict[str, Any], list[dict[str, Any]], bool, dict[str, Any]]:
    ramp = Ramp(server, workdir, per_worker, dtx)
    measured: list[dict[str, Any]] = []
    cap_reached = True
    async with aiohttp.ClientSession() as http:
        await asyncio.sleep(warmup_s)
        baseline = await ramp.measure(window_s)
        try:
            for n in steps:
                if await ramp.grow_to(n):
                    await wait_for_sessions(http, server.url, n, timeout=30)
                await asyncio.sleep(warmup_s)
                step = await ramp.measure(window_s, expected=n)
                if not step["holds"] and ramp.sessions == n:  # one more look before concluding
                    log.info("step %d failed (%s); measuring again", n, step["reasons"])
                    retry = await ramp.measure(window_s, expected=n)
                    retry["retried"] = True
                    step = retry if retry["holds"] else step
                measured.append(step)
                log.info(
                    "%2d sessions: server %.0f %% (loop %.0f %%), clients %.0f %%, min %.1f fps, "
                    "late %.0f ms%s",
                    n,
                    step["server_cpu_pct"],
                    step["server_loop_cpu_pct"],
                    step["client_cpu_pct"],
                    step["fps_min"],
                    step["max_late_ms"],
                    "" if step["holds"] else f"  FAILS: {'; '.join(step['reasons'])}",
                )
                if not step["holds"]:
                    cap_reached = False
                    break
        finally:
            await ramp.close()
            drained, left, waited = await wait_for_sessions(http, server.url, 0, timeout=30)
    cleanup = {
        "drained": drained,
        "sessions_left": left,
        "drain_s": waited,
        "connect_errors": ramp.connect_errors,
    }
    return baseline, measured, cap_reached, cleanup


def run_sessions_bench(
    quick: bool = False,
    max_sessions: int = 48,
    warmup_s: float | None = None,
    window_s: float | None = None,
    sessions_per_worker: int = 4,
    audit: bool = True,
    dtx: bool = True,
) -> dict[str, Any]:
    """Ramp idle two-way sessions against a real server; returns the report (see module doc).

    quick: steps 1, 2, 4 with short windows (tests). `max_sessions` caps the ramp."""
    log = logging.getLogger("voxroom.bench.sessions")
    steps = [n for n in (QUICK_STEPS if quick else FULL_STEPS) if n <= max_sessions]
    warmup = warmup_s if warmup_s is not None else (2.0 if quick else 4.0)
    window = window_s if window_s is not None else (4.0 if quick else 8.0)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="voxroom-sessions-") as tmp:
        workdir = Path(tmp)
        with load_server(workdir, max_sessions=max(steps) + 4, audit=audit, dtx=dtx) as server:
            baseline, measured, cap_reached, cleanup = asyncio.run(
                _ramp(server, workdir, steps, warmup, window, sessions_per_worker, dtx, log)
            )
            server_errors = server.errors()
    return {
        **_summarize(baseline, measured, cap_reached),
        "criteria": {
            "min_fps": round(fps_bounds(dtx)[0], 3),
            "max_fps": round(fps_bounds(dtx)[1], 3),
            "max_late_ms": MAX_LATE_MS,
            "max_loss_pct": 100 * MAX_LOSS,
            "max_loop_cpu_pct": MAX_LOOP_CPU_PCT,
        },
        "machine": {
            "cpu_cores": psutil.cpu_count(),
            "note": (
                "load clients run on the same machine: their CPU (client_cpu_pct) competes "
                "with the server's; CPU figures are % of one core"
            ),
        },
        "config": {
            "steps": steps,
            "warmup_s": warmup,
            "window_s": window,
            "sessions_per_worker": sessions_per_worker,
            "client_audio": f"noise {NOISE_DBFS:.0f} dBFS",
            "agent_audio": "opus dtx" if dtx else "continuous",
            "audit": audit,
        },
        "idle": baseline,
        "steps": measured,
        "cleanup": cleanup,
        "server_errors": server_errors,
        "run_s": round(time.monotonic() - started, 1),
    }


def print_sessions_report(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    console = Console()
    table = Table(
        *("N", "ok", "srv %", "loop %", "RSS MB", "fds", "cli %", "other %", "fps min"),
        *("loss %", "jit ms", "backlog"),
        caption="CPU in % of one core (srv: server process; loop: its event-loop thread; cli: "
        "load clients; other: anything else on the machine). jit: inbound jitter the server "
        "measured on the clients' audio. backlog: most inbound frames a session had waiting.",
    )
    for step in [report["idle"], *report["steps"]]:
        table.add_row(
            str(step["sessions"]),
            "yes" if step["holds"] else "NO",
            str(step["server_cpu_pct"]),
            str(step["server_loop_cpu_pct"]),
            str(step["server_rss_mb"]),
            str(step["server_fds"]),
            str(step["client_cpu_pct"]),
            str(step["other_cpu_pct"]),
            str(step["fps_min"]) if step["sessions"] else "-",
            f"{max(step['loss_in_pct'], step['loss_out_pct'])}",
            str(step["server_jitter_ms_max"]),
            str(step["inbound_backlog_frames_max"]),
        )
    console.print(table)
    console.print(
        f"sessions/core {report['sessions_per_core']} (held {report['max_sessions_held']} "
        f"on {report['server_cores_at_max']} cores; limited by {report['limited_by']}; "
        f"projected {report['projected_sessions_per_core']}/core)  ·  idle CPU "
        f"{report['idle_cpu_pct_per_session']} % of a core per session  ·  "
        f"{report['mem_mb_per_session']} MB per session  ·  clients "
        f"{report['client_cpu_pct_per_session']} % per session (same machine)"
    )
    for step in report["steps"]:
        if not step["holds"]:
            console.print(f"[yellow]{step['sessions']} sessions: {'; '.join(step['reasons'])}")
