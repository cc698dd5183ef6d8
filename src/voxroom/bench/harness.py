"""Run a `voxroom dev` server in a child process on loopback (for benchmarks and tests)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    log_path: Path, *extra: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `voxroom dev` (ICE on 127.0.0.1 only unless `env` says otherwise) and wait until
    it answers health checks."""
    port = free_port()
    env = {**os.environ, "VOXROOM_TRANSPORT__ICE_ADDRESSES": "127.0.0.1", **(env or {})}
    command = [sys.executable, "-m", "voxroom", "dev", "--port", str(port), *extra]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(process, url, log_path)
    except BaseException:  # also a SIGTERM or Ctrl-C while the server loads its models
        stop_server(process)
        raise
    return process, url


def _wait_until_healthy(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"voxroom dev exited:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/api/v1/health", timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"voxroom dev did not come up:\n{log_path.read_text()}")


def terminate_children() -> None:
    """SIGTERM to every process this one started (read from /proc: Linux only)."""
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            for pid in (task / "children").read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGTERM)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def running_server(log_path: Path, *extra: str, env: dict[str, str] | None = None) -> Iterator[str]:
    process, url = start_server(log_path, *extra, env=env)
    try:
        yield url
    finally:
        stop_server(process)


def espeak_wav(
    text: str,
    path: Path,
    *,
    lead_s: float = 0.0,
    tail_s: float = 0.0,
    words_per_minute: int = 140,
    voice: str = "en-us",
) -> Path:
    """Speech made with espeak-ng (padded with sox), as a 16-bit mono WAV.

    140 wpm: Whisper base mishears faster espeak-ng speech ("capital and friends")."""
    raw = path.with_suffix(".raw.wav")
    command = ["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-w", str(raw), text]
    subprocess.run(command, check=True, capture_output=True)
    if lead_s or tail_s:
        subprocess.run(["sox", str(raw), str(path), "pad", str(lead_s), str(tail_s)], check=True)
        raw.unlink()
    else:
        raw.replace(path)
    return path


def trim_silence(samples: np.ndarray, threshold: int = 300) -> np.ndarray:
    """Drop leading/trailing near-silence, so 'end of speech' is the last voiced sample."""
    voiced = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    return samples[voiced[0] : voiced[-1] + 1] if voiced.size else samples[:0]
