"""Video in a room: the face agent watches a participant's camera through Janus and
publishes its boxed frames; the participant receives them."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.rooms.conftest import RoomApi
from voxroom.bench.video_scene import face_scene, write_barcode
from voxroom.client import RoomClient

pytestmark = pytest.mark.slow


async def test_the_face_agent_sees_and_shows_video_in_a_room(rooms: RoomApi) -> None:
    room = await rooms.create_room(name="faces", agent="faces")
    token = await rooms.token(room=room["id"], identity="alice", name="Alice")
    alice = RoomClient(rooms.url, token, video=True)
    await alice.join()
    try:
        assert alice.camera is not None
        fps, seconds = 10, 8
        scene, _ = face_scene(0.0)
        start = time.monotonic()
        for counter in range(fps * seconds):
            await asyncio.sleep(max(0.0, start + counter / fps - time.monotonic()))
            image = scene.copy()
            write_barcode(image, counter)
            alice.camera.push(image, "bgr24")
        stats = [m for _, m in alice.messages if m.get("type") == "video_stats"]
        assert stats and stats[-1]["processed_frames"] > 10, stats[-1:]
        assert alice.received_video.frames > 10  # the agent's boxed video came back
    finally:
        await alice.leave()
        await rooms.end_room(room["id"])
