"""The fleet's room registry in Redis: where each room is (Janus), who runs its agent
(worker, session) and who is in it. API nodes read it; the worker running a room's agent
keeps `worker`, `status` and `participants` current.

A room is one hash (`Keys.room`): `record` (what never changes, as JSON) and one field per
thing that does, so writers of different fields never overwrite each other.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal, cast

from pydantic import BaseModel, Field
from redis.asyncio import Redis

from voxroom.worker.keys import Keys

RoomStatus = Literal["waiting", "dispatching", "live"]


class RoomRecord(BaseModel):
    id: str
    name: str
    agent: str
    policy: str | None  # None: the agent class's own (the worker fills it in)
    session_id: str  # chosen at creation: the room's one session, whichever worker runs it
    janus_url: str
    janus_id: int
    created_at: float = Field(default_factory=time.time)


class RoomState(BaseModel):
    record: RoomRecord
    status: RoomStatus = "dispatching"
    worker: str | None = None
    policy: str | None = None
    entry: str | None = None  # the job's stream entry (pending while the agent runs)
    agent_joined_at: float | None = None
    dispatch_ms: float | None = None
    redispatches: int = 0
    participants: list[dict[str, Any]] = Field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        """The room as the REST API shows it (docs/protocol.md, "Rooms")."""
        record = self.record
        return {
            "id": record.id,
            "name": record.name,
            "agent": record.agent,
            "policy": self.policy or record.policy,
            "session_id": record.session_id,
            "created_at": round(record.created_at, 3),
            "participants": self.participants,
            "status": self.status,
            "worker": self.worker,
            "dispatch_ms": self.dispatch_ms,
            "redispatches": self.redispatches,
        }


_FIELDS = ("status", "worker", "policy", "entry", "agent_joined_at", "dispatch_ms",
           "redispatches", "participants")  # fmt: skip


class RoomRegistry:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def add(self, record: RoomRecord, status: RoomStatus) -> None:
        keys = self._keys
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.room(record.id), mapping={"record": record.model_dump_json(),
                                                     "status": status})  # fmt: skip
            pipe.zadd(keys.rooms, {record.id: record.created_at})
            pipe.sadd(keys.janus_rooms(record.janus_url), record.id)
            pipe.set(keys.janus_room(record.janus_url, record.janus_id), record.id)
            await pipe.execute()

    async def get(self, room_id: str) -> RoomState | None:
        raw = cast(dict[str, str], await self._redis.hgetall(self._keys.room(room_id)))
        return _state(raw)

    async def update(self, room_id: str, **changes: Any) -> bool:
        """Set fields of a room that still exists (False: it ended meanwhile)."""
        unknown = set(changes) - set(_FIELDS)
        if unknown:
            raise ValueError(f"not room fields: {sorted(unknown)}")
        values = {k: json.dumps(v) if k == "participants" else _text(v) for k, v in changes.items()}
        key = self._keys.room(room_id)
        # Only if the room is still there: a worker must not resurrect an ended room.
        script = "if redis.call('EXISTS', KEYS[1]) == 1 then " \
                 "redis.call('HSET', KEYS[1], unpack(ARGV)) return 1 else return 0 end"  # fmt: skip
        flat = [item for pair in values.items() for item in pair]
        return bool(await self._redis.eval(script, 1, key, *flat))

    async def claim_waiting(self, room_id: str) -> bool:
        """Move a room from `waiting` to `dispatching`; False if it was not waiting (one
        dispatch per room, however many join events arrive at however many API nodes)."""
        script = "if redis.call('HGET', KEYS[1], 'status') == 'waiting' then " \
                 "redis.call('HSET', KEYS[1], 'status', 'dispatching') return 1 " \
                 "else return 0 end"  # fmt: skip
        return bool(await self._redis.eval(script, 1, self._keys.room(room_id)))

    async def count_redispatch(self, room_id: str) -> int:
        return int(await self._redis.hincrby(self._keys.room(room_id), "redispatches", 1))

    async def list(self) -> list[RoomState]:
        ids = cast(list[str], await self._redis.zrange(self._keys.rooms, 0, -1))
        async with self._redis.pipeline(transaction=False) as pipe:
            for room_id in ids:
                pipe.hgetall(self._keys.room(room_id))
            found = await pipe.execute()
        return [state for raw in found if (state := _state(raw)) is not None]

    async def by_janus(self, janus_url: str, janus_id: int) -> str | None:
        room_id = await self._redis.get(self._keys.janus_room(janus_url, janus_id))
        return cast(str | None, room_id)

    async def remove(self, record: RoomRecord) -> bool:
        """Forget the room; False if it was gone already (someone else ended it)."""
        keys = self._keys
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.room(record.id))
            pipe.zrem(keys.rooms, record.id)
            pipe.srem(keys.janus_rooms(record.janus_url), record.id)
            pipe.delete(keys.janus_room(record.janus_url, record.janus_id))
            deleted, *_ = await pipe.execute()
        return bool(deleted)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _state(raw: dict[str, str]) -> RoomState | None:
    if "record" not in raw:
        return None
    return RoomState(
        record=RoomRecord.model_validate_json(raw["record"]),
        status=raw.get("status") or "dispatching",  # type: ignore[arg-type]
        worker=raw.get("worker") or None,
        policy=raw.get("policy") or None,
        entry=raw.get("entry") or None,
        agent_joined_at=float(raw["agent_joined_at"]) if raw.get("agent_joined_at") else None,
        dispatch_ms=float(raw["dispatch_ms"]) if raw.get("dispatch_ms") else None,
        redispatches=int(raw.get("redispatches") or 0),
        participants=json.loads(raw["participants"]) if raw.get("participants") else [],
    )
