"""A benchmark stopped with SIGTERM (a CI timeout, `kill`, an orchestrator) stops the
`voxroom dev` server it started, instead of leaving it running on the shared machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

pytestmark = pytest.mark.timeout(180)


def _servers(pid: int) -> list[int]:
    """The `voxroom dev` servers among the bench's children (it also runs espeak-ng and
    sox for its questions, which come and go)."""
    found: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found += [int(child) for child in f.read().split()]
    return [child for child in found if "--port" in _arguments(child)]


def _arguments(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode().split("\0")
    except FileNotFoundError:  # gone already
        return []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def _healthy(server: int) -> bool:
    args = _arguments(server)
    port = args[args.index("--port") + 1]
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1):
            return True
    except OSError:
        return False


# Loading: the server is still loading its models. Running: the bench's peer talks to it
# (a hang here once kept the bench alive for good: asyncio.run waited for a task that
# swallowed its cancellation).
@pytest.mark.parametrize("when", ["loading", "running"])
def test_sigterm_stops_the_bench_and_the_server_it_started(when: str) -> None:
    bench = subprocess.Popen(
        [sys.executable, "-m", "voxroom", "bench", "latency", "--turns", "50"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    servers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not servers and time.monotonic() < deadline and bench.poll() is None:
            time.sleep(0.2)
            servers = _servers(bench.pid)
        assert servers, "the bench started no server"
        if when == "running":
            while not _healthy(servers[0]) and time.monotonic() < deadline + 60:
                time.sleep(0.3)
            time.sleep(4.0)  # the bench's peer connects and starts speaking
        else:
            time.sleep(1.0)
        bench.send_signal(signal.SIGTERM)
        bench.wait(timeout=30)
        deadline = time.monotonic() + 20
        while any(_alive(pid) for pid in servers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(pid) for pid in servers), "the server outlived its bench"
        assert b"Traceback" not in (bench.stderr.read() if bench.stderr else b"")
    finally:
        bench.kill()
        for pid in servers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
