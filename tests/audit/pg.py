"""A throwaway PostgreSQL server for the tests: its own data dir, a free port on 127.0.0.1.

Uses the Debian `postgresql` package's binaries; no service, no network beyond loopback.
As root, the server runs as the `postgres` user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PostgresServer:
    port: int
    data_dir: Path
    bin_dir: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://voxroom@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://voxroom@127.0.0.1:{self.port}/{database}"


def find_bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    return Path(found[-1]).parent if found else None


def start(bin_dir: Path) -> PostgresServer:
    root = Path(tempfile.mkdtemp(prefix="voxroom-pg-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (root, sockets):
            os.chown(path, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    _run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "voxroom", "--auth=trust",
          "--no-sync", "-E", "UTF8", "--locale=C"])  # fmt: skip
    options = (
        f"-h 127.0.0.1 -p {port} -k {sockets} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"  # tests only
    )
    _run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"),
          "-o", options, "-w", "-t", "60", "start"])  # fmt: skip
    return PostgresServer(port, data, bin_dir)


def stop(server: PostgresServer) -> None:
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(
        [*as_user, str(server.bin_dir / "pg_ctl"), "-D", str(server.data_dir), "-m", "immediate",
         "-w", "stop"],
        check=False, capture_output=True, timeout=60,
    )  # fmt: skip
    shutil.rmtree(server.data_dir.parent, ignore_errors=True)


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd="/")
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {done.stdout}\n{done.stderr}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _version(initdb: str) -> tuple[int, ...]:
    name = Path(initdb).parent.parent.name
    return tuple(int(part) for part in name.split(".") if part.isdigit())
