"""kill -9 of a whole `voxroom dev` server mid-session, then a restart on the same folders.

The crash leaves an intact SQLite store whose chain verifies, and recordings that parse and
hold the session's audio up to about the kill. The restarted server closes the orphaned
session (`session_ended`, reason "server_crashed", through the hash chain), makes its WAV
headers cover all the audio on disk, lists it, and serves new sessions.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import espeak_wav
from voxroom.bench.harness import start_server, stop_server
from voxroom.client import VoxroomClient
from voxroom.media.audio import read_wav

pytestmark = pytest.mark.slow

REPLY_TIMEOUT_S = 60.0
TONE_BEFORE_KILL_S = 1.5  # the user is mid-sound when the server dies
# What a kill may cost the recordings: the aligner's lookahead (0.4 s), one flush interval
# (0.5 s), and scheduling on a loaded 2-core machine.
MAX_RECORDING_LOSS_S = 2.0
WAV_HEADER = 44


def _agent_answer(turn_id: int) -> Any:
    def match(message: dict[str, Any]) -> bool:
        return (
            message.get("type") == "transcript"
            and message["role"] == "agent"
            and message["final"]
            and message["turn_id"] == turn_id
        )

    return match


def _user_final(message: dict[str, Any]) -> bool:
    return message.get("type") == "transcript" and message["role"] == "user" and message["final"]


async def _talk_then_kill(
    url: str, server: subprocess.Popen[bytes], question: tuple[np.ndarray, int]
) -> tuple[str, float]:
    """A spoken question answered, then a tone the server is killed in the middle of."""
    client = VoxroomClient(url)
    try:
        await client.connect()
        assert client.session_url is not None
        await client.speak(*question)
        user = await client.wait_for(_user_final, REPLY_TIMEOUT_S)
        await client.wait_for(_agent_answer(user["turn_id"]), REPLY_TIMEOUT_S)
        rate = 16000
        t = np.arange(4 * rate) / rate
        client.microphone.push((12000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16), rate)
        await asyncio.sleep(TONE_BEFORE_KILL_S)
        server.send_signal(signal.SIGKILL)
        killed_at = time.time()
        assert await asyncio.to_thread(server.wait, 10) == -signal.SIGKILL
    finally:
        await client.close()  # its DELETE finds nobody: the server is gone
    return client.session_url.rsplit("/", 1)[1], killed_at


def _voxroom(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "voxroom", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def _session_row(db: Path, session_id: str) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
        assert row is not None, f"session {session_id} is not in the store"
        return dict(row)


def _last_events(db: Path, session_id: str, count: int) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT payload FROM events WHERE session_id = ? ORDER BY seq DESC LIMIT ?",
            (session_id, count),
        ).fetchall()
    return [json.loads(payload) for (payload,) in reversed(rows)]


def _recording(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Each WAV as (frames its header says, frames its data holds, rate); it must parse."""
    found = {}
    for name, channels in (("user.wav", 1), ("agent.wav", 1), ("stereo.wav", 2)):
        path = folder / name
        with wave.open(str(path), "rb") as wav:
            assert wav.getnchannels() == channels and wav.getsampwidth() == 2
            found[name] = (
                wav.getnframes(),
                (path.stat().st_size - WAV_HEADER) // (2 * channels),
                wav.getframerate(),
            )
    return found


def _loud_at_end(path: Path, seconds: float) -> bool:
    samples, rate = read_wav(path)
    tail = samples[-round(seconds * rate) :].astype(np.float64)
    return bool(tail.size) and float(np.sqrt(np.mean(tail**2))) > 1000


def _get_json(url: str, token: str | None = None, body: object = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    with urllib.request.urlopen(urllib.request.Request(url, data, headers), timeout=10) as r:
        return json.loads(r.read())


async def _chat_answered(url: str) -> None:
    client = VoxroomClient(url)
    try:
        await client.connect()
        client.send({"type": "chat", "text": "Say hello."})
        user = await client.wait_for(_user_final, REPLY_TIMEOUT_S)
        await client.wait_for(_agent_answer(user["turn_id"]), REPLY_TIMEOUT_S)
    finally:
        await client.close()


async def test_kill_9_of_the_server_then_restart(
    tmp_path: Path, speech_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    audit_dir = tmp_path / "audit"
    monkeypatch.setenv("VOXROOM_AUDIT__DIR", str(audit_dir))  # the servers' and the CLI's
    monkeypatch.delenv("VOXROOM_AUDIT__URL", raising=False)
    db = audit_dir / "audit.db"
    question = read_wav(espeak_wav("What is the capital of France?", speech_dir / "crash.wav"))

    server, url = await asyncio.to_thread(start_server, tmp_path / "first.log")
    try:
        session_id, killed_at = await _talk_then_kill(url, server, question)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

    # Right after the crash: the store is intact and the session's chain verifies as it stands.
    crashed = _session_row(db, session_id)
    assert crashed["ended_at"] is None and crashed["turns"] >= 1
    verified = _voxroom("audit", "verify", session_id)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    folder = audit_dir / "files" / session_id
    crash_t = killed_at - crashed["started_at"]  # session-clock time of the kill
    for name, (frames, on_disk, rate) in _recording(folder).items():
        assert rate == 16000
        assert crash_t - MAX_RECORDING_LOSS_S < on_disk / rate <= crash_t + 0.1, (name, crash_t)
        assert frames <= on_disk  # a header never claims audio that is not there
    assert _loud_at_end(folder / "user.wav", 0.3), "the tone playing at the kill is missing"

    # A restart on the same folders recovers the session and serves new ones.
    server, url = await asyncio.to_thread(start_server, tmp_path / "second.log")
    try:
        recovered = _session_row(db, session_id)
        assert recovered["end_reason"] == "server_crashed", (tmp_path / "second.log").read_text()
        recording_saved, ended = _last_events(db, session_id, 2)
        assert ended["type"] == "session_ended" and ended["recovered_at"] >= killed_at
        assert crash_t - MAX_RECORDING_LOSS_S < ended["t"] <= crash_t + 0.1  # last sign of life
        assert recovered["ended_at"] == ended["ts"]
        repaired = _recording(folder)
        assert all(frames == on_disk for frames, on_disk, _ in repaired.values()), repaired
        assert recording_saved["type"] == "recording_saved"
        assert recording_saved["duration"] == pytest.approx(
            repaired["stereo.wav"][0] / 16000, abs=1e-3
        )

        verified = _voxroom("audit", "verify", session_id)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        listed = _voxroom("audit", "list", "--json").stdout.splitlines()
        found = [s for s in map(json.loads, listed) if s["id"] == session_id]
        assert [s["end_reason"] for s in found] == ["server_crashed"], listed

        token = _get_json(f"{url}/api/v1/tokens", body={"scopes": ["audit"]})["token"]
        detail = _get_json(f"{url}/api/v1/audit/sessions/{session_id}", token)
        assert detail["verification"]["ok"] and detail["recording"] is not None

        await _chat_answered(url)
    finally:
        await asyncio.to_thread(stop_server, server)
