"""`voxroom bench fleet`: rooms on a real local fleet through a rolling deploy and a crash.

A local fleet (`voxroom.worker.local`: Redis, PostgreSQL, two Janus, the API, two workers
with the real models) in a private network namespace. N rooms, one simulated person in each
(`RoomClient` speaking espeak-ng lines to the agent every few seconds). Then:

1. drain: SIGTERM to one worker; its rooms are handed over when the drain timeout ends;
   a new worker starts in its place (a rolling deploy);
2. crash: kill -9 of the other worker mid-call; its rooms are claimed by the new one.

Measured:
- `dispatch_ms` (p50, p90): job created (API) → the agent publishing in the room (worker);
- `sessions_lost_drain` / `sessions_lost_kill`: rooms whose agent did not come back (within
  `BACK_WITHIN_S`), or came back as another session;
- `redispatch_ms` (p50, p90): worker killed → the agent's new feed up at the person's client;
  `handoff_ms`: drain timeout over → the same, for the drained rooms;
- `frames_lost_pct`: RTP packets of the agent's voice lost on the way to the people (aiortc's
  inbound statistics of every agent feed they subscribed to, over the whole run);
- `audit_intact`: every room is one session whose hash chain verifies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.table import Table

from voxroom.audit.chain import Head, verify
from voxroom.audit.store import AuditStore
from voxroom.bench.latency import percentile
from voxroom.bench.netns import VETH_ADDRESS
from voxroom.bench.rooms_people import Utterances
from voxroom.client import RoomClient
from voxroom.transport.webrtc import tuning
from voxroom.worker import local
from voxroom.worker.local_services import alive

TARGETS = {"dispatch_ms.p50": 300.0, "dispatch_ms.p90": 800.0, "sessions_lost_drain": 0,
           "redispatch_ms.p50": 3000.0, "frames_lost_pct": 0.5}  # fmt: skip
BACK_WITHIN_S = 15.0
DRAIN_TIMEOUT_S = 5.0
LINES = [
    "Nova, what is the capital of France?",
    "Nova, tell me a short fact about the moon.",
    "I think we should move the meeting to Friday.",
    "Nova, how many days are in a week?",
]


@dataclass
class Person:
    room: dict[str, Any]
    client: RoomClient
    speaking: asyncio.Task[None] | None = None


@dataclass
class Run:
    people: list[Person] = field(default_factory=list)
    dispatch_ms: list[float] = field(default_factory=list)
    handoff_ms: list[float] = field(default_factory=list)
    redispatch_ms: list[float] = field(default_factory=list)
    lost_drain: int = 0
    lost_kill: int = 0


def stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None}
    return {"p50": round(percentile(values, 0.5), 1), "p90": round(percentile(values, 0.9), 1)}


def run_fleet_bench(interface: str, rooms: int = 6, warm_s: float = 15.0) -> dict[str, Any]:
    tuning.configure_host_addresses([VETH_ADDRESS])
    with tempfile.TemporaryDirectory(prefix="voxroom-bench-fleet-") as folder:
        plan = local.FleetPlan(
            Path(folder), workers=2, janus=2, api_port=0, janus_interface=interface,
            rtp_base=24000, capacity=rooms + 2, drain_timeout_s=DRAIN_TIMEOUT_S,
            env={"VOXROOM_TRANSPORT__ICE_ADDRESSES": f"127.0.0.1,{VETH_ADDRESS}",
                 "VOXROOM_SERVER__RATE_LIMIT_PER_MINUTE": "100000",
                 "VOXROOM_SERVER__RATE_LIMIT_BURST": "10000"},
        )  # fmt: skip
        state = local.up(plan)
        try:
            return asyncio.run(_bench(state, rooms, warm_s, Path(folder)))
        finally:
            local.down(state, drain_timeout_s=DRAIN_TIMEOUT_S)


async def _bench(
    state: local.FleetState, rooms: int, warm_s: float, folder: Path
) -> dict[str, Any]:
    run = Run()
    utterances = Utterances(folder)
    for line in LINES:
        utterances.get(line, "en-us")
    async with aiohttp.ClientSession() as http:
        token = await _token(http, state.url, scopes=["rooms"])
        headers = {"Authorization": f"Bearer {token}"}
        try:
            for n in range(rooms):
                async with http.post(f"{state.url}/api/v1/rooms", json={"name": f"bench-{n}"},
                                     headers=headers) as response:  # fmt: skip
                    if response.status != 201:
                        raise RuntimeError(f"room refused: {await response.text()}")
                    room = await response.json()
                run.dispatch_ms.append(float(room["dispatch_ms"]))
                join = await _token(http, state.url, room=room["id"], identity=f"p{n}",
                                    name=f"Person {n}")  # fmt: skip
                client = RoomClient(state.url, join)
                await client.join(30)
                person = Person(room, client)
                person.speaking = asyncio.create_task(_speak(client, utterances, n))
                run.people.append(person)
            sampler = asyncio.create_task(_sample(run.people))
            await asyncio.sleep(warm_s)
            await _drain_phase(state, run, http, headers)
            await asyncio.sleep(warm_s / 2)
            await _kill_phase(state, run, http, headers)
            await asyncio.sleep(warm_s / 2)
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
            for person in run.people:
                await person.client.sample_agent_rtp()
            intact = await _audit_intact(state, run)
        finally:
            for person in run.people:
                if person.speaking is not None:
                    person.speaking.cancel()
                await person.client.leave()
    received = sum(r for p in run.people for r, _ in p.client.agent_rtp.values())
    lost = sum(lo for p in run.people for _, lo in p.client.agent_rtp.values())
    return {
        "sessions": rooms,
        "dispatch_ms": stats(run.dispatch_ms),
        "frames_lost_pct": round(100 * lost / max(1, received + lost), 3),
        "sessions_lost_drain": run.lost_drain,
        "sessions_lost_kill": run.lost_kill,
        "redispatch_ms": stats(run.redispatch_ms),
        "handoff_ms": stats(run.handoff_ms),
        "agent_packets_received": received,
        "audit_intact": intact,
        "workers": 2,
        "janus": len(state.janus),
        "drain_timeout_s": DRAIN_TIMEOUT_S,
    }


async def _token(http: aiohttp.ClientSession, url: str, **body: Any) -> str:
    async with http.post(f"{url}/api/v1/tokens", json=body) as response:
        response.raise_for_status()
        return str((await response.json())["token"])


async def _speak(client: RoomClient, utterances: Utterances, n: int) -> None:
    chooser = random.Random(n)
    await asyncio.sleep(chooser.uniform(0, 4))
    while True:
        samples, rate = utterances.get(chooser.choice(LINES), "en-us")
        await client.speak(samples, rate)
        await asyncio.sleep(chooser.uniform(5, 9))


async def _sample(people: list[Person]) -> None:
    while True:
        for person in people:
            await person.client.sample_agent_rtp()
        await asyncio.sleep(1.0)


async def _rooms_of(http: aiohttp.ClientSession, url: str, headers: dict[str, str],
                    people: list[Person]) -> dict[str, dict[str, Any] | None]:  # fmt: skip
    found: dict[str, dict[str, Any] | None] = {}
    for person in people:
        async with http.get(f"{url}/api/v1/rooms/{person.room['id']}", headers=headers) as r:
            found[person.room["id"]] = await r.json() if r.status == 200 else None
    return found


async def _back(people: list[Person], since: float, joins_before: dict[str, int]) -> list[float]:
    """Seconds from `since` until each person saw a new agent feed (inf: not within the limit)."""
    deadline = since + BACK_WITHIN_S
    waits = []
    for person in people:
        client = person.client
        while len(client.agent_joins) <= joins_before[person.room["id"]]:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        newer = client.agent_joins[joins_before[person.room["id"]] :]
        waits.append(newer[0] - since if newer else float("inf"))
    return waits


async def _drain_phase(state: local.FleetState, run: Run, http: aiohttp.ClientSession,
                       headers: dict[str, str]) -> None:  # fmt: skip
    rooms = await _rooms_of(http, state.url, headers, run.people)
    target = state.workers[0]
    moving = [p for p in run.people if (rooms[p.room["id"]] or {}).get("worker") == target.name]
    before = {p.room["id"]: len(p.client.agent_joins) for p in run.people}
    os.kill(target.pid, signal.SIGTERM)
    handoff_at = time.monotonic() + DRAIN_TIMEOUT_S
    waits = await _back(moving, handoff_at, before)
    await asyncio.to_thread(_wait_exit, target.pid, DRAIN_TIMEOUT_S + 30)
    run.handoff_ms += [w * 1000 for w in waits if w != float("inf")]
    after = await _rooms_of(http, state.url, headers, run.people)
    run.lost_drain = _lost(run.people, rooms, after) + sum(w == float("inf") for w in waits)
    fresh = await asyncio.to_thread(
        local.start_worker, state, "worker-3",
        {"VOXROOM_FLEET__CAPACITY": str(len(run.people) + 2),
         "VOXROOM_FLEET__DRAIN_TIMEOUT_S": str(DRAIN_TIMEOUT_S)},
    )  # fmt: skip
    state.workers.append(fresh)
    state.save()


async def _kill_phase(state: local.FleetState, run: Run, http: aiohttp.ClientSession,
                      headers: dict[str, str]) -> None:  # fmt: skip
    rooms = await _rooms_of(http, state.url, headers, run.people)
    target = state.workers[1]
    moving = [p for p in run.people if (rooms[p.room["id"]] or {}).get("worker") == target.name]
    before = {p.room["id"]: len(p.client.agent_joins) for p in run.people}
    killed_at = time.monotonic()
    os.kill(target.pid, signal.SIGKILL)
    waits = await _back(moving, killed_at, before)
    run.redispatch_ms += [w * 1000 for w in waits if w != float("inf")]
    after = await _rooms_of(http, state.url, headers, run.people)
    run.lost_kill = _lost(run.people, rooms, after) + sum(w == float("inf") for w in waits)


def _wait_exit(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)


def _lost(people: list[Person], before: dict[str, Any], after: dict[str, Any]) -> int:
    """Rooms gone, or whose session changed, or not live."""
    lost = 0
    for person in people:
        old, new = before[person.room["id"]], after[person.room["id"]]
        if new is None or old is None or new["session_id"] != old["session_id"]:
            lost += 1
        elif new["status"] != "live":
            lost += 1
    return lost


async def _audit_intact(state: local.FleetState, run: Run) -> bool:
    await asyncio.sleep(1.0)  # the writers' last flush
    async with AuditStore(state.env["VOXROOM_AUDIT__URL"]) as store:
        for person in run.people:
            session_id = person.room["session_id"]
            summary = await store.session(session_id)
            rows = await store.events(session_id)
            if summary is None or not verify(rows, Head(summary.event_count,
                                                        summary.head_hash)).ok:  # fmt: skip
                return False
    return True


def print_fleet_report(report: dict[str, Any], json_out: bool) -> None:
    if json_out:
        print(json.dumps(report, indent=2))
        return
    table = Table(title=f"fleet: {report['sessions']} rooms, 2 workers, drain then kill -9")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    rows = [
        ("dispatch_ms.p50", report["dispatch_ms"]["p50"]),
        ("dispatch_ms.p90", report["dispatch_ms"]["p90"]),
        ("sessions_lost_drain", report["sessions_lost_drain"]),
        ("sessions_lost_kill", report["sessions_lost_kill"]),
        ("redispatch_ms.p50", report["redispatch_ms"]["p50"]),
        ("handoff_ms.p50", report["handoff_ms"]["p50"]),
        ("frames_lost_pct", report["frames_lost_pct"]),
        ("audit_intact", report["audit_intact"]),
    ]
    for name, value in rows:
        target = TARGETS.get(name)
        table.add_row(name, str(value), "" if target is None else f"≤ {target}")
    Console().print(table)
