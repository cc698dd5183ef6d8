"""Shared pieces of the load benchmarks (`bench sessions`, `bench soak`).

- `load_server()`: a real `voxroom dev` child process (all models load) with a throwaway audit
  store and a raised session limit, watched through psutil.
- `ProcessProbe`: CPU (whole process and its event-loop thread), RSS, fds and threads of a process.
- `LoadClient`: a lean `VoxroomClient` for load: it counts the agent's audio frames instead of
  decoding and keeping them, sends near-silence (quiet noise, so a server cannot skip the work
  by spotting digital zeros), and can leave without a DELETE.
(Load-client child processes: `bench/workers.py`.)

Load clients run in other processes than the orchestrator and the server; on a small machine
they compete with the server for CPU, which is why their CPU is measured too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import aiohttp
import numpy as np
import psutil
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from voxroom.bench.harness import start_server, stop_server
from voxroom.bench.noise import NOISE_DBFS, RepeatingFramesEncoder, noise_loop
from voxroom.client import VoxroomClient
from voxroom.config import VoxroomConfig
from voxroom.transport.webrtc.opus import DTX_INTERVAL_FRAMES, OpusSenderTrack
from voxroom.transport.webrtc.outbound import WIRE_RATE

FRAME_RATE = 50.0  # 20 ms Opus frames each way
DTX_FRAME_RATE = FRAME_RATE / DTX_INTERVAL_FRAMES  # an idle agent's keep-alives with DTX on
# The dev server's log records start "2026-01-01 12:00:00,000 LEVEL logger: message".
LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ([A-Z]+) ")
MAX_BLOCK_LINES = 40


# --- server ------------------------------------------------------------------------------
@dataclass(slots=True)
class LoadServer:
    url: str
    log_path: Path
    process: psutil.Process

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def errors(self) -> list[str]:
        """Each ERROR/CRITICAL record with its traceback, and any traceback printed outside
        an error record (an uncaught exception in a thread, a warning with exc_info)."""
        return log_errors(self.log())


def log_errors(log: str) -> list[str]:
    blocks: list[list[str]] = []
    current: list[str] | None = None  # the error block being collected
    for line in log.splitlines():
        record = LOG_RECORD.match(line)
        if record is not None:
            current = [line] if record.group(1) in ("ERROR", "CRITICAL") else None
            if current is not None:
                blocks.append(current)
        elif current is not None:
            if len(current) < MAX_BLOCK_LINES:
                current.append(line)
        elif line.startswith(("Traceback", "Exception in")):
            current = [line]
            blocks.append(current)
    return ["\n".join(block) for block in blocks]


@contextmanager
def load_server(
    workdir: Path,
    *,
    max_sessions: int,
    audit: bool = True,
    dtx: bool = True,
    env: dict[str, str] | None = None,
) -> Iterator[LoadServer]:
    """`voxroom dev` on loopback with the packaged models, its own cache folder (the audit
    database and recordings go to `workdir`; the model files are the user's, linked in),
    `max_sessions` sessions allowed and no per-address rate limit to speak of. `dtx`: the
    agent's Opus DTX (the server's default) or a continuous 50 packets/s when idle. `env`:
    more of the server's environment (e.g. the memory report's)."""
    real_models = VoxroomConfig.from_env().models.cache_dir / "models"
    cache = workdir / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    if real_models.exists() and not (cache / "models").exists():
        (cache / "models").symlink_to(real_models, target_is_directory=True)
    env = {
        "VOXROOM_CACHE_DIR": str(cache),
        "VOXROOM_MODELS__CACHE_DIR": str(cache),
        "VOXROOM_SERVER__MAX_SESSIONS": str(max_sessions),
        "VOXROOM_AUDIT__ENABLED": "true" if audit else "false",
        "VOXROOM_AUDIT__URL": str(cache / "audit" / "audit.db"),
        "VOXROOM_TRANSPORT__DTX": "true" if dtx else "false",
        # Every load client comes from 127.0.0.1: one address must be allowed the whole load.
        "VOXROOM_SERVER__RATE_LIMIT_PER_MINUTE": "100000",
        "VOXROOM_SERVER__RATE_LIMIT_BURST": "10000",
        **(env or {}),
    }
    log_path = workdir / "server.log"
    with mock.patch.dict(os.environ, env):
        popen, url = start_server(log_path)
    try:
        yield LoadServer(url, log_path, psutil.Process(popen.pid))
    finally:
        stop_server(popen)


async def health(http: aiohttp.ClientSession, url: str, timeout: float = 5.0) -> int:
    """Live sessions the server reports; raises on any failure (an unhealthy server)."""
    async with http.get(
        f"{url}/api/v1/health", timeout=aiohttp.ClientTimeout(total=timeout)
    ) as response:
        response.raise_for_status()
        body = await response.json()
    if body.get("status") != "ok":
        raise RuntimeError(f"health: {body}")
    return int(body["sessions"])


async def wait_for_sessions(
    http: aiohttp.ClientSession, url: str, count: int, timeout: float
) -> tuple[bool, int, float]:
    """Poll health until the server reports `count` live sessions: (reached, last, seconds)."""
    started = time.monotonic()
    last = -1
    while True:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            last = await health(http, url)
        waited = time.monotonic() - started
        if last == count or waited >= timeout:
            return last == count, last, round(waited, 1)
        await asyncio.sleep(0.5)


# --- process measurements ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CpuMark:
    wall: float
    process_s: float  # user + system of every thread
    loop_s: float  # user + system of the main thread (the asyncio event loop)


class ProcessProbe:
    """psutil readings of one process; CPU figures are in % of one core (may exceed 100)."""

    def __init__(self, process: psutil.Process) -> None:
        self.process = process

    def cpu(self) -> CpuMark:
        times = self.process.cpu_times()
        loop_s = 0.0
        with contextlib.suppress(psutil.Error):
            for thread in self.process.threads():
                if thread.id == self.process.pid:
                    loop_s = thread.user_time + thread.system_time
        return CpuMark(time.monotonic(), times.user + times.system, loop_s)

    @staticmethod
    def cpu_pct(start: CpuMark, end: CpuMark) -> tuple[float, float]:
        """(process, event-loop thread) CPU between two marks, % of one core."""
        wall = max(end.wall - start.wall, 1e-9)
        return (
            100 * (end.process_s - start.process_s) / wall,
            100 * (end.loop_s - start.loop_s) / wall,
        )

    def rss_mb(self) -> float:
        return float(self.process.memory_info().rss) / 2**20

    def fds(self) -> int:
        return int(self.process.num_fds())

    def threads(self) -> int:
        return int(self.process.num_threads())


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """User + system CPU of the given processes that are still alive."""
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine (all cores), from /proc/stat via psutil."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


# --- the load client ---------------------------------------------------------------------
@dataclass(slots=True)
class FrameCounter:
    """Arrivals of the agent's audio frames, without keeping or decoding-to-mono them.

    Lateness is the frame's arrival against its RTP timestamp: `arrival - timestamp` is
    constant for a stream sent in real time (one clock, loopback), so each frame's offset
    above the smallest seen is how late it came. That holds with DTX's gaps as well."""

    frames: int = 0
    last_at: float = 0.0
    max_gap_s: float = 0.0
    first_pts: int | None = None
    min_offset_s: float = float("inf")
    max_late_s: float = 0.0  # since the last `new_window`

    def arrived(self, now: float, pts: int | None = None) -> None:
        if self.last_at:
            self.max_gap_s = max(self.max_gap_s, now - self.last_at)
        self.last_at = now
        self.frames += 1
        if pts is None:
            return
        if self.first_pts is None:
            self.first_pts = pts
        offset = now - ((pts - self.first_pts) % 2**32) / WIRE_RATE  # RTP timestamps wrap
        self.min_offset_s = min(self.min_offset_s, offset)
        self.max_late_s = max(self.max_late_s, offset - self.min_offset_s)

    def new_window(self) -> None:
        self.max_gap_s = 0.0
        self.max_late_s = 0.0


@dataclass(slots=True)
class RtpCounters:
    """Cumulative RTP counters of one session, as aiortc's getStats() reports them."""

    at: float = 0.0
    frames: int = 0  # audio frames the agent sent us that we received (decoded)
    in_received: int = 0
    in_lost: int = 0
    out_sent: int = 0
    out_lost: int = 0  # lost on the way to the server, per its RTCP receiver reports
    server_jitter_ms: float = 0.0  # inbound jitter the server measured on our stream


@dataclass(slots=True)
class WindowResult:
    """One session over a measurement window."""

    seconds: float
    frames: int
    fps: float
    max_gap_ms: float
    max_late_ms: float
    in_lost: int
    in_expected: int
    out_lost: int
    out_sent: int
    server_jitter_ms: float
    agent_messages: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 2),
            "frames": self.frames,
            "fps": round(self.fps, 2),
            "max_gap_ms": round(self.max_gap_ms, 1),
            "max_late_ms": round(self.max_late_ms, 1),
            "in_lost": self.in_lost,
            "in_expected": self.in_expected,
            "out_lost": self.out_lost,
            "out_sent": self.out_sent,
            "server_jitter_ms": round(self.server_jitter_ms, 2),
            "agent_messages": self.agent_messages,
        }


class LoadClient(VoxroomClient):
    """A VoxroomClient that counts received frames and sends quiet noise."""

    def __init__(self, base_url: str, *, noise_dbfs: float | None = NOISE_DBFS) -> None:
        super().__init__(base_url)
        self.counter = FrameCounter()
        self._noise = noise_loop(noise_dbfs) if noise_dbfs is not None else None
        self._feeder: asyncio.Task[None] | None = None
        self._mark = RtpCounters()
        self._mark_messages = 0

    def _microphone_sender(self) -> MediaStreamTrack:
        if self._noise is None:
            return super()._microphone_sender()
        return OpusSenderTrack(self.microphone, RepeatingFramesEncoder(self._noise))

    async def connect(self, token: str | None = None) -> None:
        await super().connect(token)
        if self._noise is not None:
            self._feeder = asyncio.ensure_future(self._feed_noise(self._noise))

    async def _feed_noise(self, block: np.ndarray) -> None:
        """Keep ~1 s of quiet noise queued; speech pushed meanwhile simply plays after it."""
        while True:
            if self.microphone.queued_seconds < 0.5:
                self.microphone.push(block, 48000)
            await asyncio.sleep(0.25)

    def pause_noise(self) -> None:
        """Stop topping up the noise (e.g. before speaking, so speech starts promptly)."""
        if self._feeder is not None:
            self._feeder.cancel()
            self._feeder = None
        self.microphone.clear()

    async def _receive(self, track: MediaStreamTrack) -> None:  # replaces the decoding receiver
        counter = self.counter
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                counter.arrived(time.monotonic(), frame.pts)

    async def counters(self) -> RtpCounters:
        out = RtpCounters(at=time.monotonic(), frames=self.counter.frames)
        if self._pc is None:
            return out
        for stats in (await self._pc.getStats()).values():
            kind = getattr(stats, "type", "")
            if kind == "inbound-rtp":
                out.in_received = int(stats.packetsReceived)
                out.in_lost = int(stats.packetsLost)
            elif kind == "outbound-rtp":
                out.out_sent = int(stats.packetsSent)
            elif kind == "remote-inbound-rtp":
                out.out_lost = int(stats.packetsLost)
                out.server_jitter_ms = float(stats.jitter) / 48.0  # RTP units at 48 kHz
        return out

    async def mark(self) -> None:
        """Start a measurement window."""
        self.counter.new_window()
        self._mark = await self.counters()
        self._mark_messages = len(self.messages)

    async def window(self) -> WindowResult:
        """What happened since `mark()`."""
        start, end = self._mark, await self.counters()
        seconds = max(end.at - start.at, 1e-9)
        frames = end.frames - start.frames
        in_received = end.in_received - start.in_received
        in_lost = max(0, end.in_lost - start.in_lost)
        return WindowResult(
            seconds=seconds,
            frames=frames,
            fps=frames / seconds,
            max_gap_ms=self.counter.max_gap_s * 1000,
            max_late_ms=self.counter.max_late_s * 1000,
            in_lost=in_lost,
            in_expected=in_received + in_lost,
            out_lost=max(0, end.out_lost - start.out_lost),
            out_sent=end.out_sent - start.out_sent,
            server_jitter_ms=end.server_jitter_ms,
            agent_messages=len(self.messages) - self._mark_messages,
        )

    async def _stop_local(self) -> None:
        if self._feeder is not None:
            self._feeder.cancel()
        if self._receiver is not None:
            self._receiver.cancel()
        if self._pc is not None:
            await self._pc.close()
        self.microphone.stop()
        await self._http.close()

    async def vanish(self) -> None:
        """Leave without a DELETE: the peer connection just closes (as a closed tab does)."""
        self.session_url = None
        await self._stop_local()

    async def close(self) -> None:
        if self._feeder is not None:
            self._feeder.cancel()
        await super().close()


async def fetch_token(url: str) -> str:
    """A session token from the dev server's loopback token endpoint."""
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/api/v1/tokens", json={}) as response:
            response.raise_for_status()
            return str((await response.json())["token"])


async def abandoned_offer(url: str, token: str, hold_s: float) -> int:
    """POST a real offer, take the answer, never apply it (ICE is never completed on our
    side), keep the peer connection alive `hold_s` seconds, then drop it without a DELETE.
    Returns the HTTP status of the offer."""
    async with aiohttp.ClientSession() as http:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        try:
            pc.addTransceiver("audio", direction="sendrecv")
            pc.createDataChannel("voxroom")
            await pc.setLocalDescription(await pc.createOffer())
            headers = {"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"}
            async with http.post(
                f"{url}/api/v1/sessions", data=pc.localDescription.sdp, headers=headers
            ) as response:
                status = response.status
                await response.read()
            await asyncio.sleep(hold_s)
        finally:
            await pc.close()
    return status


def slope(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of ys over xs (None with fewer than two distinct xs)."""
    if len(set(xs)) < 2:
        return None
    return float(np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)[0])
