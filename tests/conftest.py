"""Shared fixtures: a real `voxroom dev` server on loopback, and spoken test audio."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from voxroom.transport.p2p import tuning

# Tests stay on loopback: this process's aiortc peers gather 127.0.0.1 candidates only.
tuning.configure_host_addresses(["127.0.0.1"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class RunningServer:
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(log_path: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "VOXROOM_TRANSPORT__ICE_ADDRESSES": "127.0.0.1"}
    command = [sys.executable, "-m", "voxroom", "dev", "--port", str(port), *extra]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"voxroom dev exited:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/api/v1/health", timeout=1):
                return process, url
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"voxroom dev did not come up:\n{log_path.read_text()}")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One real server (real models) shared by the integration and browser tests."""
    log_path = tmp_path_factory.mktemp("server") / "voxroom-dev.log"
    process, url = start_server(log_path)
    yield RunningServer(url, log_path)
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def espeak_wav(
    text: str, path: Path, *, lead_s: float = 0.0, tail_s: float = 0.0, words_per_minute: int = 140
) -> Path:
    """Speech made with espeak-ng (and padded with sox), as a 16-bit mono WAV.

    140 wpm: Whisper base mishears faster espeak-ng speech ("capital and friends")."""
    raw = path.with_suffix(".raw.wav")
    command = ["espeak-ng", "-v", "en-us", "-s", str(words_per_minute), "-w", str(raw), text]
    subprocess.run(command, check=True)
    if lead_s or tail_s:
        subprocess.run(["sox", str(raw), str(path), "pad", str(lead_s), str(tail_s)], check=True)
        raw.unlink()
    else:
        raw.replace(path)
    return path


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.fail("espeak-ng and sox are required (the README's test command installs them)")
    return tmp_path_factory.mktemp("speech")
