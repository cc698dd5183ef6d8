"""The room registry in Redis: fields written by different processes, ended rooms stay ended."""

from __future__ import annotations

from redis.asyncio import Redis

from voxroom.worker.keys import Keys
from voxroom.worker.rooms_registry import RoomRecord, RoomRegistry


def record(room_id: str = "r1") -> RoomRecord:
    return RoomRecord(id=room_id, name="standup", agent="Nova", policy=None, session_id="s1",
                      janus_url="ws://127.0.0.1:8188", janus_id=42)  # fmt: skip


async def test_a_room_is_described_and_found_by_its_janus_room(redis: Redis) -> None:
    rooms = RoomRegistry(redis, Keys("test"))
    await rooms.add(record(), "dispatching")
    assert await rooms.update("r1", status="live", worker="w1", policy="addressed",
                              participants=[{"identity": "alice"}])  # fmt: skip
    state = await rooms.get("r1")
    assert state is not None and state.worker == "w1"
    assert state.describe()["participants"] == [{"identity": "alice"}]
    assert state.describe()["policy"] == "addressed"
    assert await rooms.by_janus("ws://127.0.0.1:8188", 42) == "r1"
    assert [s.record.id for s in await rooms.list()] == ["r1"]


async def test_an_ended_room_is_not_brought_back_by_a_late_update(redis: Redis) -> None:
    rooms = RoomRegistry(redis, Keys("test"))
    await rooms.add(record(), "live")
    assert await rooms.remove(record())
    assert not await rooms.update("r1", participants=[])
    assert await rooms.get("r1") is None and await rooms.by_janus("ws://127.0.0.1:8188", 42) is None
    assert not await rooms.remove(record())


async def test_a_waiting_room_is_dispatched_once(redis: Redis) -> None:
    rooms = RoomRegistry(redis, Keys("test"))
    await rooms.add(record(), "waiting")
    assert [await rooms.claim_waiting("r1") for _ in range(3)] == [True, False, False]
