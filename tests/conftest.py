"""Shared fixtures: a real `voxroom dev` server on loopback, and spoken test audio."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.netns import VETH_ADDRESS, veth
from voxroom.bench.harness import espeak_wav, start_server, stop_server
from voxroom.transport.webrtc import tuning

__all__ = ["RunningServer", "espeak_wav", "veth"]

# Tests stay on loopback: this process's aiortc peers gather 127.0.0.1 candidates only.
tuning.configure_host_addresses(["127.0.0.1"])


@dataclass(frozen=True)
class RunningServer:
    url: str
    log_path: Path
    pid: int | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One real server (real models) shared by the integration and browser tests."""
    log_path = tmp_path_factory.mktemp("server") / "voxroom-dev.log"
    process, url = start_server(log_path)
    yield RunningServer(url, log_path)
    stop_server(process)


def room_server_env(interface: str) -> dict[str, str]:
    """A server whose Janus runs ICE on `interface` (the veth carrying 127.0.0.2): the agent's
    peers gather on 127.0.0.2 too (libnice would not send from 127.0.0.2 to 127.0.0.1)."""
    return {
        "VOXROOM_TRANSPORT__ICE_ADDRESSES": f"127.0.0.1,{VETH_ADDRESS}",
        "VOXROOM_ROOMS__JANUS_ICE_INTERFACE": interface,
        "VOXROOM_ROOMS__JANUS_RTP_PORTS": "21000-21199",
        "VOXROOM_ROOMS__EMPTY_TIMEOUT_S": "120",
    }


@pytest.fixture(scope="session")
def room_server(veth: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One real server with rooms on a real embedded Janus (rooms and room page tests)."""
    log_path = tmp_path_factory.mktemp("room-server") / "voxroom-dev.log"
    process, url = start_server(log_path, env=room_server_env(veth))
    yield RunningServer(url, log_path, process.pid)
    stop_server(process)


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.fail("espeak-ng and sox are required (the README's test command installs them)")
    return tmp_path_factory.mktemp("speech")
