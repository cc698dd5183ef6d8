"""Shared fixtures: a real `voxroom dev` server on loopback, and spoken test audio."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from voxroom.bench.harness import espeak_wav, start_server, stop_server
from voxroom.transport.webrtc import tuning

__all__ = ["RunningServer", "espeak_wav"]

# Tests stay on loopback: this process's aiortc peers gather 127.0.0.1 candidates only.
tuning.configure_host_addresses(["127.0.0.1"])


@dataclass(frozen=True)
class RunningServer:
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One real server (real models) shared by the integration and browser tests."""
    log_path = tmp_path_factory.mktemp("server") / "voxroom-dev.log"
    process, url = start_server(log_path)
    yield RunningServer(url, log_path)
    stop_server(process)


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.fail("espeak-ng and sox are required (the README's test command installs them)")
    return tmp_path_factory.mktemp("speech")
