"""The concurrent-rooms ramp of `voxroom bench rooms`: 1, 2, 3, … rooms at once, each the
agent and two people (a child process per room, `rooms_worker`) who stream their
microphones all along and ask the agent a question about every `period_s` seconds.

After each room is added, every room runs a measuring window at once (their first
questions staggered over the period) while the server's inbound backlog is sampled from its
health endpoint. A step *holds* when every stream stayed real time (`rooms_score.judge_step`):
backlog ≤ 10 frames (200 ms, as `bench sessions`; ≤ 5 is reported too) at every sample, every
question transcribed and answered (first
agent audio) within 10 s of its end, and every client receiving ≥ 90 % of the agent's frames
while it spoke. A failing step is measured once more before the ramp stops; `rooms_held` is
the largest step that held.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from voxroom.bench.rooms_call import PEOPLE
from voxroom.bench.rooms_people import RoomsApi
from voxroom.bench.rooms_score import judge_step, rooms_held
from voxroom.bench.workers import WorkerProcess

WORKER_MODULE = "voxroom.bench.rooms_worker"
BACKLOG_SAMPLE_S = 0.5
JOIN_TIMEOUT_S = 90.0
log = logging.getLogger("voxroom.bench.rooms")


@dataclass(frozen=True, slots=True)
class RampConfig:
    max_rooms: int = 8
    window_s: float = 30.0
    period_s: float = 10.0


@dataclass
class RampRoomHandle:
    room: dict[str, Any]
    worker: WorkerProcess


@dataclass
class BacklogProbe:
    """Samples the server's `inbound_backlog_frames` (health) until stopped; keeps the worst."""

    url: str
    worst: int = 0
    samples: int = 0
    failures: int = 0  # health checks that got no answer
    stopped: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, http: aiohttp.ClientSession) -> None:
        while not self.stopped.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopped.wait(), BACKLOG_SAMPLE_S)
            try:
                async with http.get(
                    f"{self.url}/api/v1/health", timeout=aiohttp.ClientTimeout(total=5)
                ) as response:
                    body = await response.json()
            except (aiohttp.ClientError, TimeoutError):
                self.failures += 1
                continue
            self.worst = max(self.worst, int(body.get("inbound_backlog_frames", 0)))
            self.samples += 1


class Ramp:
    def __init__(self, api: RoomsApi, workdir: Path, config: RampConfig) -> None:
        self.api = api
        self.workdir = workdir
        self.config = config
        self.rooms: list[RampRoomHandle] = []
        self.join_errors: list[str] = []

    async def add_room(self) -> None:
        """One more room with its two people; a failure is kept as a step error."""
        index = len(self.rooms) + len(self.join_errors)
        try:
            room = await self.api.create_room(f"ramp-{index}")
            tokens = {
                p.identity: await self.api.join_token(room["id"], p.identity, p.name)
                for p in PEOPLE
            }
        except (RuntimeError, aiohttp.ClientError) as exc:
            self.join_errors.append(f"room {index}: {exc}")
            return
        args = ["--url", self.api.url, "--index", str(index), "--workdir", str(self.workdir)]
        worker = await WorkerProcess.start(WORKER_MODULE, args, self.workdir / f"room{index}.log")
        self.rooms.append(RampRoomHandle(room, worker))
        command = {"cmd": "join", "agent": room["agent"], "tokens": tokens}
        try:
            reply = await worker.request(command, timeout=JOIN_TIMEOUT_S)
        except (RuntimeError, TimeoutError) as exc:  # the worker died or hung
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        if reply.get("event") != "joined":
            self.join_errors.append(f"room {index}: {reply.get('error', reply)}")

    async def measure(self, http: aiohttp.ClientSession) -> dict[str, Any]:
        n = len(self.rooms)
        period = self.config.period_s
        probe = BacklogProbe(self.api.url)
        sampler = asyncio.ensure_future(probe.run(http))
        try:
            replies = await asyncio.gather(
                *(
                    room.worker.request(
                        {
                            "cmd": "run",
                            "window_s": self.config.window_s,
                            "period_s": period,
                            "offset_s": i * period / n,
                        },
                        timeout=self.config.window_s + 180,
                    )
                    for i, room in enumerate(self.rooms)
                ),
                return_exceptions=True,
            )
        finally:
            probe.stopped.set()
            await sampler
        errors = list(self.join_errors)
        if probe.failures:
            errors.append(f"server health unanswered {probe.failures} times")
        questions = []
        for i, reply in enumerate(replies):
            if isinstance(reply, BaseException):
                errors.append(f"room {i}: {type(reply).__name__}: {reply}")
            else:
                questions.extend(reply.get("questions", []))
        return judge_step(n + len(self.join_errors), questions, probe.worst, errors)

    async def close(self) -> None:
        for handle in self.rooms:
            with contextlib.suppress(Exception):
                await handle.worker.request({"cmd": "close"}, timeout=30)
            await handle.worker.wait()
            with contextlib.suppress(aiohttp.ClientError):
                await self.api.end_room(handle.room["id"])


async def _step(ramp: Ramp, http: aiohttp.ClientSession) -> dict[str, Any]:
    step = await ramp.measure(http)
    if not step["holds"] and not ramp.join_errors:  # one more look before concluding
        log.info("%d rooms failed (%s); measuring again", step["rooms"], step["reasons"])
        retry = await ramp.measure(http)
        if retry["holds"]:
            return {**retry, "first_try_reasons": step["reasons"]}
        return {**step, "retry_reasons": retry["reasons"]}
    return step


async def run_ramp(api: RoomsApi, workdir: Path, config: RampConfig) -> dict[str, Any]:
    """Add rooms one at a time until a step does not hold (or `max_rooms`)."""
    ramp = Ramp(api, workdir, config)
    steps: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        for _ in range(config.max_rooms):
            await ramp.add_room()
            step = await _step(ramp, api.http)
            steps.append(step)
            log.info(
                "%d rooms: %s%s",
                step["rooms"],
                "holds" if step["holds"] else "FAILS",
                "" if step["holds"] else f" ({'; '.join(step['reasons'])})",
            )
            if not step["holds"]:
                break
    finally:
        await ramp.close()
    return {
        "rooms_held": rooms_held(steps),
        "rooms_held_strict_backlog": rooms_held(steps, "holds_strict"),
        "cap_reached": bool(steps) and all(s["holds"] for s in steps),
        "steps": steps,
        "session_ids": [h.room["session_id"] for h in ramp.rooms],
        "run_s": round(time.monotonic() - started, 1),
    }
