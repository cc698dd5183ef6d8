"""`voxroom audit replay`: a recorded session's user audio through an agent again, compared."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import RunningServer, espeak_wav
from voxroom.audit.replay import replay
from voxroom.audit.store import AuditStore
from voxroom.client import VoxroomClient
from voxroom.config import VoxroomConfig
from voxroom.media.audio import read_wav

pytestmark = pytest.mark.slow


async def test_replay_reproduces_the_recorded_turn(server: RunningServer, speech_dir: Path) -> None:
    samples, rate = read_wav(espeak_wav("What is the capital of France?", speech_dir / "r.wav"))
    client = VoxroomClient(server.url)
    await client.connect()
    try:
        await asyncio.sleep(0.3)
        await client.speak(samples, rate)
        await client.wait_for(
            lambda m: m.get("type") == "transcript" and m["role"] == "agent" and m["final"], 60
        )
        assert client.session_url is not None
        session_id = client.session_url.rsplit("/", 1)[1]
    finally:
        await client.close()
    config = VoxroomConfig()
    async with AuditStore(config.audit.database_url(config.models.cache_dir)) as store:
        for _ in range(50):  # the writer commits within ~200 ms of session end
            rows = await store.events(session_id)
            if any(r.type == "session_ended" for r in rows):
                break
            await asyncio.sleep(0.2)
    assert any(r.type == "recording_saved" for r in rows), [r.type for r in rows]
    session_dir = config.audit.files_dir(config.models.cache_dir) / session_id
    report = await asyncio.to_thread(
        replay, session_id, rows, session_dir, "voxroom.apps.assistant:Assistant"
    )
    rows_out = report.rows()
    assert rows_out and rows_out[0]["user_before"], rows_out
    assert "capital" in rows_out[0]["user_after"].lower(), rows_out
    assert rows_out[0]["agent_after"] and rows_out[0]["total_ms_after"], rows_out
