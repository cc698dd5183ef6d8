"""Jobs as they travel in Redis streams (one field, `job`: this model as JSON)."""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, Field

from voxroom.ids import new_id

JobKind = Literal["room", "offer"]
# Why a room job runs again: its worker died (`lost`) or handed it over while draining.
Resumption = Literal["lost", "handoff"]


class Job(BaseModel):
    id: str = Field(default_factory=lambda: new_id(9))
    kind: JobKind
    agent: str
    created_at: float = Field(default_factory=time.time)  # wall clock: dispatch delay
    # An offer's caller waits this long (wall clock); a worker taking it later drops it.
    deadline: float | None = None
    # kind "offer": a peer-to-peer call to answer.
    offer_sdp: str | None = None
    identity: str | None = None
    # kind "room": the room (its record in the registry says the rest).
    room_id: str | None = None
    # A room job put back by a draining worker (its id) to be continued elsewhere.
    handoff_from: str | None = None

    def fields(self) -> dict[str, str]:
        return {"job": self.model_dump_json(exclude_none=True)}

    @classmethod
    def parse(cls, fields: dict[Any, Any]) -> Job:
        raw = fields.get("job", fields.get(b"job"))
        if isinstance(raw, bytes):
            raw = raw.decode()
        return cls.model_validate_json(str(raw))


class Reply(BaseModel):
    """A worker's answer to a job the API waits for."""

    ok: bool
    worker: str
    error: str | None = None
    # Why it failed: "limit" (503), "offer" (a bad offer: 400), "unknown" (500).
    reason: Literal["limit", "offer", "agent", "unavailable", "unknown"] | None = None
    session_id: str | None = None
    answer_sdp: str | None = None
    dispatch_ms: float | None = None  # job created → agent in the room / offer answered
