"""The engines a local fleet runs on, each a real server process on loopback: Redis,
PostgreSQL (a fresh cluster in a folder of its own) and Janus (a config folder of its own).
Started detached (their own session), so they outlive the command that started them; each
is stopped by its pid. Debian packages: redis-server, postgresql, janus."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from voxroom.transport.janus.config import (
    JanusInstallation,
    JanusOptions,
    check_enforce_list,
    pick_interface,
    write_config,
)


class ServiceError(RuntimeError):
    """A service would not start; the message says what to install or look at."""


def free_port() -> int:
    """A free port below the kernel's range for outgoing connections. A port from that range
    (what binding port 0 gives) can be taken as the source port of any connection made before
    the service binds it: in one full test run the fleet's API found its port in use."""
    low, _ = _ephemeral_range()
    for _ in range(200):
        port = random.randrange(max(1024, low - 12000), low)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise ServiceError(f"no free port below {low} on 127.0.0.1")


def _ephemeral_range() -> tuple[int, int]:
    with contextlib.suppress(OSError, ValueError):
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    return 32768, 60999  # Linux's default


def wait_port(port: int, timeout: float, what: str, log: Path, pid: int | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid is not None and not alive(pid):
            raise ServiceError(f"{what} exited while starting; its log {log}:\n{tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise ServiceError(f"{what} did not listen on port {port} in {timeout:.0f} s; log {log}")


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "".join(path.read_text(errors="replace").splitlines(True)[-lines:])
    except OSError:
        return "(no log)"


def alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # reaps it if it is our exited child
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # a zombie of someone else's is dead too
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def spawn(command: list[str], log: Path, env: dict[str, str] | None = None) -> int:
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=env, start_new_session=True, cwd="/",
        )  # fmt: skip
    return process.pid


def stop_pid(pid: int, timeout: float, sig: int = signal.SIGTERM) -> bool:
    """Signal `pid` and wait for it to exit (SIGKILL after `timeout`); True if it exited
    by itself."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    while alive(pid):
        time.sleep(0.05)
    return False


# --- Redis ---------------------------------------------------------------------------------
def start_redis(folder: Path, port: int) -> int:
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceError("Redis is not installed: apt install redis-server")
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "redis.log"
    pid = spawn([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(folder), "--protected-mode", "yes"],
                log)  # fmt: skip
    wait_port(port, 15, "redis-server", log, pid)
    return pid


# --- PostgreSQL ----------------------------------------------------------------------------
def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise ServiceError("PostgreSQL is not installed: apt install postgresql")
    return Path(found[-1]).parent


def _as_postgres() -> list[str]:
    # PostgreSQL refuses to run as root: as root, run it as the package's `postgres` user.
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def postgres_folder(wanted: Path) -> Path:
    """Where the cluster lives: `wanted`, except as root, where the server runs as the
    `postgres` user, who may not be able to reach it (a private temp folder's child): then
    a folder of its own under the system's temp folder."""
    if os.geteuid() != 0:
        return wanted
    return Path(tempfile.mkdtemp(prefix="voxroom-fleet-pg-"))


def start_postgres(folder: Path, port: int, database: str = "voxroom") -> str:
    """A fresh cluster in `folder` (trust auth on 127.0.0.1 only, user `voxroom`) and a
    database; returns its SQLAlchemy URL."""
    bin_dir = _pg_bin()
    data, sockets = folder / "data", folder / "sockets"
    sockets.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (folder, sockets):
            os.chown(path, user.pw_uid, user.pw_gid)
    log = folder / "postgres.log"
    if not (data / "PG_VERSION").exists():
        _run([*_as_postgres(), str(bin_dir / "initdb"), "-D", str(data), "-U", "voxroom",
              "--auth=trust", "-E", "UTF8", "--locale=C"])  # fmt: skip
    options = f"-h 127.0.0.1 -p {port} -k {sockets}"
    _run([*_as_postgres(), str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log),
          "-o", options, "-w", "-t", "60", "start"])  # fmt: skip
    created = subprocess.run(
        [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "voxroom",
         database], capture_output=True, text=True, cwd="/",
    )  # fmt: skip
    if created.returncode != 0 and "already exists" not in created.stderr:
        raise ServiceError(f"createdb failed: {created.stderr}")
    return f"postgresql+asyncpg://voxroom@127.0.0.1:{port}/{database}"


def stop_postgres(folder: Path) -> None:
    bin_dir = _pg_bin()
    subprocess.run(
        [*_as_postgres(), str(bin_dir / "pg_ctl"), "-D", str(folder / "data"), "-m", "fast",
         "-w", "stop"], capture_output=True, timeout=60, cwd="/", check=False,
    )  # fmt: skip


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd="/")
    if done.returncode != 0:
        raise ServiceError(f"{Path(command[0]).name} failed: {done.stdout}\n{done.stderr}")


# --- Janus ---------------------------------------------------------------------------------
def start_janus(folder: Path, options: JanusOptions, name: str) -> int:
    """Janus from a config folder of its own (WebSocket on 127.0.0.1:`ws_port`, ICE on
    `options.ice_enforce_list` or the first non-loopback interface)."""
    installation = JanusInstallation.find(options.executable, options.lib_dir)
    interface = options.ice_enforce_list or pick_interface()
    check_enforce_list(interface)
    config = write_config(folder, options, installation, interface, name)
    log = folder / "janus.log"
    pid = spawn([str(installation.executable), "-F", str(folder), "-C", str(config)], log)
    wait_port(options.ws_port, 15, "janus", log, pid)
    return pid
