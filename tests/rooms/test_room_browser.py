"""The browser agent in a room on Janus (the shipped app, its chooser the packaged Gemma): the
participants receive the browser's screen as the agent's video, and a typed task runs steps
with the real model until someone stops it."""

from __future__ import annotations

import asyncio

import pytest

from tests.rooms.conftest import RoomApi

pytestmark = pytest.mark.slow

TIMEOUT_S = 120  # the browser starts and the embedding model loads with the room's agent


async def test_the_room_watches_the_browser_agent_work(rooms: RoomApi) -> None:
    room = await rooms.create_room(name="browser", agent="browser")
    alice = await rooms.join(room["id"], "alice", "Alice")
    try:
        hello = await alice.wait_for(lambda m: m.get("type") == "browser", TIMEOUT_S)
        assert hello["home"].startswith("http://127.0.0.1:"), hello
        for _ in range(TIMEOUT_S * 5):
            if alice.received_video.frames > 10:
                break
            await asyncio.sleep(0.2)
        assert alice.received_video.frames > 10, alice.received_video
        frame = alice.received_video.last
        assert frame is not None and (frame.width, frame.height) == (960, 600)

        alice.send({"type": "chat", "text": "Open the Garden Club newsletter page"})
        started = await alice.wait_for(
            lambda m: m.get("type") == "browser_task" and m["status"] == "running", 60
        )
        step = await alice.wait_for(lambda m: m.get("type") == "browser_step", 180)
        assert step["task_id"] == started["task_id"] and step["step"] == 1, step
        assert step["result"] in ("done", "finished", "failed", "refused", "invalid"), step
        alice.send({"type": "browser_stop"})
        ended = await alice.wait_for(
            lambda m: m.get("type") == "browser_task" and m["status"] != "running", 180
        )
        assert ended["status"] in ("stopped", "done", "no_progress"), ended
    finally:
        await alice.leave()
        await rooms.end_room(room["id"])
