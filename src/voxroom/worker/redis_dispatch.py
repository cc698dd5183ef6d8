"""The API side of a fleet: calls and rooms handed to workers through Redis. An API node
loads no models; it answers offers with a worker's answer and puts rooms on a Janus with a
worker's agent in them.

A job the API waits for (an offer, a new room) is answered on `Keys.reply` (BLPOP): the
worker pushes its answer when the call is answered / the agent is in the room.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, cast

from redis.asyncio import Redis

from voxroom.config import VoxroomConfig
from voxroom.ids import new_id
from voxroom.server.sessions import SessionLimitReached
from voxroom.transport.p2p.peer import OfferError
from voxroom.worker.dispatch import DispatchUnavailable, RoomPlace
from voxroom.worker.janus_pool import JanusPool
from voxroom.worker.jobs import Job, Reply
from voxroom.worker.keys import Keys
from voxroom.worker.presence import live_workers
from voxroom.worker.queue import JobQueue
from voxroom.worker.rooms_registry import RoomRecord, RoomRegistry, RoomState

log = logging.getLogger(__name__)
END_WAIT_S = 5.0  # a room's worker gets this long to end it; then the API cleans up itself
POLL_S = 0.05


class Fleet:
    """What an API node knows of the fleet: Redis, the queue, the live workers' agents."""

    def __init__(self, config: VoxroomConfig) -> None:
        self.config = config
        self.keys = Keys(config.fleet.namespace)
        self.redis: Redis = Redis.from_url(config.fleet.redis_url, decode_responses=True)
        self.queue = JobQueue(self.redis, self.keys)
        self.rooms = RoomRegistry(self.redis, self.keys)
        self.janus = JanusPool(config.rooms, self.redis, self.keys)

    async def start(self) -> None:
        await self.redis.ping()
        self.janus.watch()

    async def close(self) -> None:
        await self.janus.close()
        await self.redis.aclose()

    async def agents(self) -> dict[str, list[str]]:
        """Agent name → the live workers serving it."""
        served: dict[str, list[str]] = {}
        for worker, figures in (await live_workers(self.redis, self.keys)).items():
            for agent in json.loads(figures.get("agents") or "[]"):
                served.setdefault(agent, []).append(worker)
        return served

    async def agent(self, name: str | None) -> str:
        """The agent to dispatch to: `name` if a live worker serves it (KeyError otherwise),
        or the default one (DispatchUnavailable if no worker is up)."""
        served = await self.agents()
        if name is None:
            name = self.config.fleet.default_agent or (min(served) if served else None)
            if name is None:
                raise DispatchUnavailable("no worker is running: start `voxroom worker`")
        if name not in served:
            choices = ", ".join(repr(a) for a in sorted(served)) or "none (no worker is up)"
            raise KeyError(f"no worker serves agent {name!r}; served now: {choices}")
        return name

    async def dispatch(self, job: Job, timeout: float | None = None) -> Reply:
        """Queue `job` and wait for its worker's answer."""
        wait = timeout or self.config.fleet.dispatch_timeout_s
        await self.queue.submit(job)
        answer = await self.redis.blpop([self.keys.reply(job.id)], timeout=wait)
        if answer is None:
            raise DispatchUnavailable(
                f"no worker for agent {job.agent!r} took the job within {wait:.0f} s "
                "(all busy, or none running)"
            )
        return Reply.model_validate_json(cast(list[str], answer)[1])


class FleetSessions:
    """`SessionDispatcher`: peer-to-peer offers answered by a worker."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    async def create(self, offer_sdp: str, identity: str | None = None) -> tuple[str, str]:
        agent = await self.fleet.agent(None)
        timeout = self.fleet.config.fleet.dispatch_timeout_s
        job = Job(kind="offer", agent=agent, offer_sdp=offer_sdp, identity=identity,
                  deadline=time.time() + timeout)  # fmt: skip
        reply = await self.fleet.dispatch(job, timeout)
        if reply.ok and reply.session_id and reply.answer_sdp:
            return reply.session_id, reply.answer_sdp
        if reply.reason == "offer":
            raise OfferError(reply.error or "the offer was refused")
        if reply.reason == "limit":
            raise SessionLimitReached(reply.error or "the worker is full")
        raise DispatchUnavailable(reply.error or "the worker could not answer")

    async def end(self, session_id: str) -> bool:
        worker = await self.fleet.redis.get(self.fleet.keys.session(session_id))
        if worker is None:
            return False
        request = json.dumps({"end_session": session_id})
        await self.fleet.redis.publish(self.fleet.keys.control(str(worker)), request)
        return True


class FleetRooms:
    """`RoomDirectory`: rooms placed on the fleet's Janus servers, agents run by workers."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    async def ready(self) -> None:
        if not self.fleet.janus.urls:
            from voxroom.server.janus_service import RoomsUnavailable

            raise RoomsUnavailable("no Janus configured: set VOXROOM_ROOMS__JANUS to ws:// URLs")

    async def create(
        self, name: str = "", agent: str | None = None, policy: str | None = None, *,
        on_join: bool = False,
    ) -> dict[str, Any]:  # fmt: skip
        """Place the room, register it, and put the agent in it; `on_join`: the agent comes
        when the first person joins (the Janus webhook)."""
        dispatch = not on_join
        fleet = self.fleet
        chosen = await fleet.agent(agent)
        room_id = new_id(9)
        janus_url, janus_id = await fleet.janus.create_room(name or room_id)
        record = RoomRecord(
            id=room_id, name=name or room_id, agent=chosen, policy=policy,
            session_id=new_id(12), janus_url=janus_url, janus_id=janus_id,
        )  # fmt: skip
        await fleet.rooms.add(record, "dispatching" if dispatch else "waiting")
        if dispatch:
            try:
                await self.dispatch(record)
            except BaseException:
                await self._forget(record)
                raise
        state = await fleet.rooms.get(room_id)
        if state is None:
            raise DispatchUnavailable("the room ended while it was being set up")
        return state.describe()

    async def dispatch(self, record: RoomRecord) -> Reply:
        """A job for the room's agent; returns once the agent is in the room."""
        job = Job(kind="room", agent=record.agent, room_id=record.id)
        reply = await self.fleet.dispatch(job)
        if not reply.ok:
            if reply.reason == "limit":
                raise SessionLimitReached(reply.error or "the worker is full")
            raise DispatchUnavailable(reply.error or "the agent could not join the room")
        return reply

    async def join_requested(self, janus_url: str, janus_id: int) -> str | None:
        """Someone joined a Janus room (webhook): if the room waits for its agent, dispatch
        it (once, whoever else joins meanwhile). Returns the room id dispatched."""
        fleet = self.fleet
        room_id = await fleet.rooms.by_janus(janus_url, janus_id)
        if room_id is None:
            return None
        state = await fleet.rooms.get(room_id)
        if state is None or state.status != "waiting":
            return None
        if not await fleet.rooms.claim_waiting(room_id):
            return None  # another API node (or event) is dispatching it
        job = Job(kind="room", agent=state.record.agent, room_id=room_id)
        await fleet.queue.submit(job)  # nobody waits for the answer: people are joining
        log.info("room %s: a participant joined, its agent is dispatched", room_id)
        return room_id

    async def describe(self, room_id: str) -> dict[str, Any] | None:
        state = await self.fleet.rooms.get(room_id)
        return None if state is None else state.describe()

    async def list(self) -> list[dict[str, Any]]:
        return [state.describe() for state in await self.fleet.rooms.list()]

    async def end(self, room_id: str) -> bool:
        fleet = self.fleet
        state = await fleet.rooms.get(room_id)
        if state is None:
            return False
        if state.worker is not None:  # its worker ends the session and the room
            await fleet.redis.publish(
                fleet.keys.control(state.worker), json.dumps({"end_room": room_id})
            )
            for _ in range(round(END_WAIT_S / POLL_S)):  # the registry is in Redis: poll it
                if await fleet.rooms.get(room_id) is None:
                    break
                await asyncio.sleep(POLL_S)
        await self._forget(state.record, state)
        return True

    async def _forget(self, record: RoomRecord, state: RoomState | None = None) -> None:
        """Remove what is left of the room: registry, the job's entry, the Janus room."""
        fleet = self.fleet
        if await fleet.rooms.remove(record):
            if state is not None and state.entry is not None:
                stream = fleet.keys.jobs(record.agent)
                await fleet.queue.done_entry(stream, state.entry)
            await fleet.janus.destroy_room(record.janus_url, record.janus_id)
            await fleet.redis.publish(fleet.keys.direct, json.dumps({"room": record.id,
                                                                     "end": True}))  # fmt: skip

    async def place(self, room_id: str) -> RoomPlace | None:
        state = await self.fleet.rooms.get(room_id)
        if state is None:
            return None
        return RoomPlace(state.record.janus_url, state.record.janus_id)
