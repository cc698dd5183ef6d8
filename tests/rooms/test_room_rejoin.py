"""Janus dies mid-call: the agent rejoins (recreating the room) and its session goes on."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import psutil
import pytest

from tests.conftest import RunningServer
from tests.rooms.conftest import RoomApi

pytestmark = pytest.mark.slow


def janus_child(server: RunningServer) -> psutil.Process:
    assert server.pid is not None
    for child in psutil.Process(server.pid).children(recursive=True):
        if child.name() == "janus":
            return child
    raise AssertionError("the server runs no Janus")


def answered(m: dict[str, Any]) -> bool:
    return m.get("type") == "transcript" and m["role"] == "agent" and m["final"] and m["text"]


async def test_the_agent_rejoins_after_janus_restarts(
    rooms: RoomApi, room_server: RunningServer
) -> None:
    room = await rooms.create_room(name="sturdy")
    alice = await rooms.join(room["id"], "alice", "Alice")
    try:
        alice.send({"type": "chat", "text": "Nova, say hello."})
        await alice.wait_for(answered, 60)
        old = janus_child(room_server)

        os.kill(old.pid, signal.SIGKILL)  # Janus is gone: every session in it with it
        await asyncio.sleep(1)
        await alice.leave()
        # The supervisor restarts Janus; the agent rejoins and recreates the room.
        for _ in range(100):
            if janus_child(room_server).pid != old.pid:
                break
            await asyncio.sleep(0.1)
        alice = await rooms.join(room["id"], "alice", "Alice", timeout=30.0)
        alice.send({"type": "chat", "text": "Nova, are you still there?"})
        await alice.wait_for(answered, 60)

        described = await rooms.room(room["id"])
        assert described["session_id"] == room["session_id"]  # one session, not two halves
        assert [p["identity"] for p in described["participants"]] == ["alice"]
    finally:
        await alice.leave()
        await rooms.end_room(room["id"])
