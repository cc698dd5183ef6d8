"""`voxroom fleet up / down`: a whole fleet on this machine, for development and tests.

Redis, PostgreSQL, two Janus servers, one API node and two workers, each a real process on
loopback, all under one folder (logs, the database, Janus configs, the shared audit folder
with the recordings). `up` starts them detached and writes `fleet.json` there (pids, ports,
URLs; readable by this user only: it holds the fleet's secret); `down` drains the workers,
then stops the rest in reverse order.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from voxroom.transport.janus.config import JanusOptions
from voxroom.worker.local_services import (
    ServiceError,
    alive,
    free_port,
    postgres_folder,
    spawn,
    start_janus,
    start_postgres,
    start_redis,
    stop_pid,
    stop_postgres,
    tail,
)

STATE_FILE = "fleet.json"
DEFAULT_AGENT = "voxroom.apps.assistant:Assistant"


@dataclass
class FleetPlan:
    folder: Path
    workers: int = 2
    janus: int = 2
    api_port: int = 8080  # 0: a free one
    agents: list[str] = field(default_factory=lambda: [DEFAULT_AGENT])
    janus_interface: str | None = None  # None: the first non-loopback interface
    rtp_base: int = 20000  # Janus n gets 200 UDP ports from rtp_base + 200 n
    capacity: int | None = None
    drain_timeout_s: float | None = None
    env: dict[str, str] = field(default_factory=dict)  # more VOXROOM_* settings for all


@dataclass
class Proc:
    name: str
    pid: int
    port: int
    log: str
    url: str = ""


@dataclass
class FleetState:
    folder: str
    env: dict[str, str]
    redis: Proc
    postgres_port: int
    postgres_dir: str
    janus: list[Proc]
    api: Proc
    workers: list[Proc]
    agents: list[str]

    @property
    def url(self) -> str:
        return self.api.url

    def save(self) -> None:
        path = Path(self.folder) / STATE_FILE
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(asdict(self), file, indent=2)

    @classmethod
    def load(cls, folder: Path) -> FleetState:
        path = folder / STATE_FILE
        if not path.is_file():
            raise ServiceError(f"no fleet runs from {folder} (no {STATE_FILE}): `voxroom fleet up`")
        data: dict[str, Any] = json.loads(path.read_text())
        return cls(
            folder=data["folder"], env=data["env"], redis=Proc(**data["redis"]),
            postgres_port=data["postgres_port"], postgres_dir=data["postgres_dir"],
            janus=[Proc(**j) for j in data["janus"]],
            api=Proc(**data["api"]), workers=[Proc(**w) for w in data["workers"]],
            agents=data["agents"],
        )  # fmt: skip


def up(plan: FleetPlan) -> FleetState:
    """Start every process; returns once the API answers and every worker is ready."""
    folder = plan.folder.absolute()
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / STATE_FILE).exists():
        raise ServiceError(f"a fleet already runs from {folder}: `voxroom fleet down` first")
    started: list[Proc] = []
    postgres_started = False
    try:
        redis_port = free_port()
        redis = Proc(
            "redis",
            start_redis(folder / "redis", redis_port),
            redis_port,
            str(folder / "redis" / "redis.log"),
            f"redis://127.0.0.1:{redis_port}/0",
        )
        started.append(redis)
        pg_port = free_port()
        pg_dir = postgres_folder(folder / "postgres")
        audit_url = start_postgres(pg_dir, pg_port)
        postgres_started = True
        api_port = plan.api_port or free_port()
        env = {
            "VOXROOM_SECRET": secrets.token_urlsafe(32),
            "VOXROOM_FLEET__REDIS_URL": redis.url,
            "VOXROOM_FLEET__WEBHOOK_KEY": secrets.token_urlsafe(16),
            "VOXROOM_AUDIT__URL": audit_url,
            "VOXROOM_AUDIT__DIR": str(folder / "audit"),  # shared: recordings of every worker
            "VOXROOM_ROOMS__JANUS_ADMIN_KEY": secrets.token_urlsafe(16),
            **plan.env,
        }
        janus = []
        for n in range(plan.janus):
            ws_port = free_port()
            low = plan.rtp_base + 200 * n
            webhook = (f"http://127.0.0.1:{api_port}/api/v1/janus/events"
                       f"?key={env['VOXROOM_FLEET__WEBHOOK_KEY']}&janus={n}")  # fmt: skip
            options = JanusOptions(
                ws_port=ws_port, rtp_port_range=(low, low + 199),
                ice_enforce_list=plan.janus_interface,
                admin_key=env["VOXROOM_ROOMS__JANUS_ADMIN_KEY"], event_webhook=webhook,
            )  # fmt: skip
            janus_dir = folder / f"janus-{n + 1}"
            pid = start_janus(janus_dir, options, f"voxroom-fleet-janus-{n + 1}")
            proc = Proc(f"janus-{n + 1}", pid, ws_port, str(janus_dir / "janus.log"),
                         f"ws://127.0.0.1:{ws_port}")  # fmt: skip
            janus.append(proc)
            started.append(proc)
        env["VOXROOM_ROOMS__JANUS"] = ",".join(j.url for j in janus)
        state = FleetState(str(folder), env, redis, pg_port, str(pg_dir), janus,
                           Proc("api", 0, api_port, str(folder / "api.log")), [],
                           plan.agents)  # fmt: skip
        state.api = _start_api(state, api_port)
        started.append(state.api)
        for n in range(plan.workers):
            extra = {}
            if plan.capacity:
                extra["VOXROOM_FLEET__CAPACITY"] = str(plan.capacity)
            if plan.drain_timeout_s is not None:
                extra["VOXROOM_FLEET__DRAIN_TIMEOUT_S"] = str(plan.drain_timeout_s)
            state.workers.append(start_worker(state, f"worker-{n + 1}", extra, wait=False))
            started.append(state.workers[-1])
        state.save()
        for proc in state.workers:
            wait_http(f"{proc.url}/ready", 180, proc)
        return state
    except BaseException:
        for proc in reversed(started):
            stop_pid(proc.pid, 10)
        if postgres_started:
            stop_postgres(pg_dir)
        (folder / STATE_FILE).unlink(missing_ok=True)
        raise


def _python_env(state: FleetState, extra: dict[str, str] | None = None) -> dict[str, str]:
    # Child processes get the fleet's settings and none of this shell's other VOXROOM_*
    # settings that name sections (a stray one would be refused, or differ per process).
    base = {k: v for k, v in os.environ.items() if not (k.startswith("VOXROOM_") and "__" in k)}
    return {**base, **state.env, **(extra or {})}


def _start_api(state: FleetState, port: int) -> Proc:
    log = Path(state.folder) / "api.log"
    command = [sys.executable, "-m", "voxroom", "api", "--port", str(port)]
    proc = Proc("api", spawn(command, log, _python_env(state)), port, str(log),
                f"http://127.0.0.1:{port}")  # fmt: skip
    wait_http(f"{proc.url}/api/v1/health", 60, proc)
    return proc


def start_worker(
    state: FleetState, worker_id: str, extra: dict[str, str] | None = None, wait: bool = True
) -> Proc:
    """Start (or start again) one worker of the fleet."""
    port = free_port()
    log = Path(state.folder) / f"{worker_id}.log"
    command = [sys.executable, "-m", "voxroom", "worker", "--port", str(port)]
    for agent in state.agents:
        command += ["--agent", agent]
    env = _python_env(state, {"VOXROOM_FLEET__WORKER_ID": worker_id, **(extra or {})})
    proc = Proc(worker_id, spawn(command, log, env), port, str(log), f"http://127.0.0.1:{port}")
    if wait:
        wait_http(f"{proc.url}/ready", 180, proc)
    return proc


def wait_http(url: str, timeout: float, proc: Proc) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(proc.pid):
            raise ServiceError(f"{proc.name} exited while starting; log {proc.log}:\n"
                               f"{tail(Path(proc.log))}")  # fmt: skip
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise ServiceError(f"{proc.name} did not answer {url} in {timeout:.0f} s; log {proc.log}")


def down(state: FleetState, drain_timeout_s: float = 60.0) -> None:
    """Drain the workers (SIGTERM), then stop the API, Janus, Redis and PostgreSQL."""
    for proc in state.workers:
        if alive(proc.pid):
            os.kill(proc.pid, signal.SIGTERM)
    for proc in state.workers:
        stop_pid(proc.pid, drain_timeout_s + 15, sig=signal.SIGTERM)
    stop_pid(state.api.pid, 15)
    for proc in state.janus:
        stop_pid(proc.pid, 10)
    stop_pid(state.redis.pid, 10)
    stop_postgres(Path(state.postgres_dir))
    if Path(state.postgres_dir).parent != Path(state.folder):  # a temp folder of its own
        shutil.rmtree(state.postgres_dir, ignore_errors=True)
    (Path(state.folder) / STATE_FILE).unlink(missing_ok=True)


def status(state: FleetState) -> list[tuple[str, int, bool, str]]:
    """(name, pid, alive, url or port) of every process."""
    procs = [state.redis, *state.janus, state.api, *state.workers]
    return [(p.name, p.pid, alive(p.pid), p.url or str(p.port)) for p in procs]
