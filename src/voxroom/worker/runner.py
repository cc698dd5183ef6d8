"""`voxroom worker`: one process that runs agent sessions for the fleet.

It loads the models once (its sessions share them), registers its agents and capacity in
Redis, and takes jobs only while it has a free slot: a room job puts its agent in the room
(Janus), an offer job answers a peer-to-peer call. A room job's stream entry stays pending
while the agent runs and the worker keeps it fresh (`queue`); if the worker dies, another
claims it and continues the session where the audit store says it was (`resume`).

SIGTERM drains: no new jobs, running sessions get `fleet.drain_timeout_s` to end; then each
room still running is handed over (its part of the session ends with `handed_off`, flushed
to the store, and the job goes back in the queue for another worker) and peer-to-peer calls
are ended. Nothing is lost: every room goes on elsewhere.

A session that fails is logged and ends alone (`SessionRegistry`): its neighbours go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from voxroom.agent.agent import Agent
from voxroom.audit import events as ev
from voxroom.audit.cost import PriceTable
from voxroom.config import VoxroomConfig
from voxroom.providers.factory import ModelSet
from voxroom.server.audit_service import AuditService
from voxroom.server.metrics import VoxroomMetrics
from voxroom.server.sessions import SessionLimitReached, SessionRegistry
from voxroom.transport.base import ParticipantInfo
from voxroom.transport.janus.errors import JanusConnectionLost, JanusError
from voxroom.transport.janus.room import JanusRoomTransport
from voxroom.transport.p2p.peer import OfferError
from voxroom.worker.janus_pool import JanusPool
from voxroom.worker.jobs import Job, Reply
from voxroom.worker.keys import Keys
from voxroom.worker.presence import Load, Presence
from voxroom.worker.queue import Consumer, Delivery, JobQueue
from voxroom.worker.resume import resume
from voxroom.worker.rooms_registry import RoomRegistry, RoomState

log = logging.getLogger(__name__)

TAKE_BLOCK_MS = 200  # how long one read waits for a job (claims of lost jobs run between)
REPLY_TTL_S = 60
EMPTY_CHECK_S = 1.0
P2P_SESSION_TTL_S = 6 * 3600


@dataclass(eq=False)
class HeldRoom:
    """A room whose agent runs here, and the job entry that is its lease."""

    delivery: Delivery
    state: RoomState
    session_id: str
    transport: JanusRoomTransport
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # participants changed
    handed_off: bool = False  # stopped here to go on elsewhere (drain, or lost the lease)


def worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


class FleetWorker:
    def __init__(
        self, config: VoxroomConfig, models: ModelSet, agents: Mapping[str, type[Agent]]
    ) -> None:
        """`agents`: the names this worker takes jobs for (a class may have several: its
        own name and the rooms API's short name, e.g. "Nova" and "assistant")."""
        if not agents:
            raise ValueError("a worker serves at least one agent")
        fleet = config.fleet
        self.config = config
        self.id = fleet.worker_id or worker_name()
        self.capacity = fleet.capacity or config.server.max_sessions
        # The registry's own limit must not refuse what the worker's capacity allows.
        config.server.max_sessions = max(config.server.max_sessions, self.capacity)
        self.agents = dict(agents)
        self.keys = Keys(fleet.namespace)
        self.redis: Redis = Redis.from_url(fleet.redis_url, decode_responses=True)
        self.queue = JobQueue(self.redis, self.keys)
        self.consumer = Consumer(
            self.queue, self.redis, self.id, list(self.agents), fleet.claim_idle_ms
        )
        self.rooms = RoomRegistry(self.redis, self.keys)
        self.janus = JanusPool(config.rooms, self.redis, self.keys)
        self.sessions = SessionRegistry(config, models, next(iter(self.agents.values())))
        self.sessions.journal_rooms = False  # a lost worker's rooms go on elsewhere
        self.metrics = VoxroomMetrics(PriceTable.load(config.audit.prices))
        self.sessions.observers.append(self.metrics.observe)
        self.presence = Presence(
            self.redis,
            self.keys,
            self.id,
            list(self.agents),
            heartbeat_s=fleet.heartbeat_s,
            memory_limit_mb=fleet.memory_limit_mb,
            registry=self.metrics.registry,
        )
        self.draining = False
        self.stopped = asyncio.Event()
        self._held: dict[str, HeldRoom] = {}  # by stream entry
        self._starting = 0  # jobs being set up (counted against capacity)
        self._no_setup = asyncio.Event()
        self._no_setup.set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        await self.redis.ping()
        if self.config.audit.enabled:
            self.sessions.audit = AuditService(self.config)
            await self.sessions.audit.start()
        await self.consumer.start()
        await self.presence.beat(self.load())
        self._loops = [
            asyncio.create_task(self._consume(), name="fleet-consume"),
            asyncio.create_task(self._keep_leases(), name="fleet-leases"),
            asyncio.create_task(self._heartbeat(), name="fleet-heartbeat"),
            asyncio.create_task(self._control(), name="fleet-control"),
        ]
        log.info(
            "worker %s: agents %s, capacity %d, Redis %s",
            self.id, ", ".join(self.agents), self.capacity, self.config.fleet.redis_url,
        )  # fmt: skip

    def load(self) -> Load:
        return Load(
            sessions=len(self.sessions) + self._starting,
            capacity=self.capacity,
            inbound_backlog_frames=self.sessions.inbound_backlog_frames(),
            draining=self.draining,
        )

    @property
    def ready(self) -> bool:
        return self.presence.accepting(self.load())

    async def drain(self) -> None:
        """Stop taking jobs, let sessions end for up to the drain timeout, hand over the
        rooms still running and end the rest; then stop."""
        if self.draining:
            return
        self.draining = True
        timeout = self.config.fleet.drain_timeout_s
        log.info("worker %s draining: %d sessions, up to %.0f s", self.id, len(self.sessions),
                 timeout)  # fmt: skip
        await self.presence.beat(self.load())
        started = time.monotonic()
        with contextlib.suppress(TimeoutError):  # jobs being set up become sessions first
            await asyncio.wait_for(self._no_setup.wait(), timeout)
        await self.sessions.wait_ended(max(0.0, timeout - (time.monotonic() - started)))
        await self._no_setup.wait()  # a room joining now is handed over once it is in
        await asyncio.gather(*(self._hand_off(held) for held in list(self._held.values())))
        await self.sessions.close_all()  # peer-to-peer calls (rooms were handed over)
        log.info("worker %s drained", self.id)
        await self.close()

    async def close(self) -> None:
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        await self.sessions.close_all()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.sessions.audit is not None:
            await self.sessions.audit.close()
        with contextlib.suppress(Exception):
            await self.presence.leave()
        await self.redis.aclose()
        self.stopped.set()

    # --- taking jobs ---------------------------------------------------------------------
    def _free(self) -> int:
        if not self.presence.accepting(self.load()):
            return 0
        return self.capacity - len(self.sessions) - self._starting

    async def _consume(self) -> None:
        while not self.draining:
            if self._free() <= 0:
                await asyncio.sleep(0.05)
                continue
            try:
                delivery = await self.consumer.claim_lost()
                deliveries = [delivery] if delivery else await self.consumer.take(TAKE_BLOCK_MS)
            except (OSError, RedisError) as exc:
                log.warning("worker %s: Redis unreachable (%s); retrying", self.id, exc)
                await asyncio.sleep(1.0)
                continue
            for delivery in deliveries:
                self._starting += 1
                self._no_setup.clear()
                self._spawn(self._run_job(delivery))

    async def _run_job(self, delivery: Delivery) -> None:
        """Set the job up (counted in `_starting` until its session is registered, or it
        failed), then follow it until its session ends."""
        counted = [True]

        def running() -> None:
            if counted[0]:
                counted[0] = False
                self._starting -= 1
                if not self._starting:
                    self._no_setup.set()

        try:
            if delivery.job.kind == "room":
                await self._run_room(delivery, running)
            else:
                await self._answer_offer(delivery, running)
        except Exception:
            log.exception("worker %s: job %s failed", self.id, delivery.job.id)
        finally:
            running()

    async def _reply(self, job: Job, reply: Reply) -> None:
        key = self.keys.reply(job.id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, reply.model_dump_json(exclude_none=True))
            pipe.expire(key, REPLY_TTL_S)
            await pipe.execute()

    # --- peer-to-peer calls --------------------------------------------------------------
    async def _answer_offer(self, delivery: Delivery, running: Callable[[], None]) -> None:
        job = delivery.job
        await self.queue.done(delivery)  # a call cannot move: nothing to continue elsewhere
        if job.deadline is not None and time.time() > job.deadline:
            log.info("worker %s: offer job %s expired unanswered", self.id, job.id)
            return
        if delivery.claimed:  # its first worker died mid-answer: the caller has given up
            return
        try:
            session_id, answer = await self.sessions.create(
                job.offer_sdp or "", job.identity, self.agents[job.agent]
            )
            running()
        except OfferError as exc:
            await self._reply(job, Reply(ok=False, worker=self.id, error=str(exc), reason="offer"))
            return
        except SessionLimitReached as exc:
            await self._reply(job, Reply(ok=False, worker=self.id, error=str(exc), reason="limit"))
            return
        await self.redis.set(self.keys.session(session_id), self.id, ex=P2P_SESSION_TTL_S)
        dispatch_ms = round((time.time() - job.created_at) * 1000, 1)
        reply = Reply(ok=True, worker=self.id, session_id=session_id, answer_sdp=answer,
                      dispatch_ms=dispatch_ms)  # fmt: skip
        await self._reply(job, reply)
        live = self.sessions.get(session_id)
        if live is not None:
            await asyncio.gather(live.task, return_exceptions=True)
        await self.redis.delete(self.keys.session(session_id))

    # --- rooms ---------------------------------------------------------------------------
    async def _run_room(self, delivery: Delivery, running: Callable[[], None]) -> None:
        job = delivery.job
        state = await self.rooms.get(job.room_id or "")
        if state is None:  # the room ended before (or while) its job waited
            await self.queue.done(delivery)
            return
        agent_class = self.agents[job.agent]
        record = state.record
        policy = state.policy or record.policy or agent_class.turn_policy or "addressed"
        lost = delivery.claimed and state.worker not in (None, self.id)
        continued = None
        if lost or job.handoff_from:
            previous = state.worker if lost else job.handoff_from
            audit = self.sessions.audit
            continued = await resume(
                audit.store if audit else None,
                record.session_id,
                reason="worker_lost" if lost else "handoff",
                from_worker=previous or "?",
                to_worker=self.id,
                files_dir=audit.files_dir if audit else None,
            )
        settings = self.janus.settings(record.janus_id, record.name or record.id)
        transport = JanusRoomTransport(
            record.janus_url,
            record.janus_id,
            ParticipantInfo(agent_class.name, agent_class.name, role="agent"),
            self.config.transport,
            video=agent_class.uses_video,
            publish=policy != "silent",
            direct=functools.partial(self._direct, record.id),
            prepare=functools.partial(self.janus.ensure_room, record.janus_url, settings),
        )
        try:
            await transport.start()
            session_id = self.sessions.start(
                transport,
                agent_class(),
                policy=policy,  # type: ignore[arg-type]  # a policy name (rooms API checks)
                session_id=record.session_id,
                continued=(continued.log, continued.continuation) if continued else None,
            )
        except (OSError, TimeoutError, JanusError, JanusConnectionLost, SessionLimitReached) as exc:
            await transport.close()
            await self._room_failed(delivery, state, exc)
            return
        joined_at = time.time()
        held = HeldRoom(delivery, state, session_id, transport)
        self._held[delivery.entry] = held
        running()
        changes: dict[str, Any] = {
            "status": "live",
            "worker": self.id,
            "policy": policy,
            "entry": delivery.entry,
            "agent_joined_at": joined_at,
        }
        if continued is None:
            changes["dispatch_ms"] = round((joined_at - job.created_at) * 1000, 1)
        await self.rooms.update(record.id, **changes)
        if continued is not None:
            await self.rooms.count_redispatch(record.id)
            log.info("worker %s: room %s continued (%s from %s)", self.id, record.id,
                     continued.continuation.reason, continued.continuation.from_worker)  # fmt: skip
        else:
            await self._reply(job, Reply(ok=True, worker=self.id, session_id=session_id,
                                         dispatch_ms=changes["dispatch_ms"]))  # fmt: skip
        await self._follow_room(held)

    async def _room_failed(self, delivery: Delivery, state: RoomState, exc: Exception) -> None:
        job = delivery.job
        log.warning("worker %s: room %s: the agent could not join: %s", self.id,
                    state.record.id, exc)  # fmt: skip
        if delivery.claimed or job.handoff_from:
            return  # left pending, untouched: claimed again (here or elsewhere) shortly
        await self.queue.done(delivery)
        limit = isinstance(exc, SessionLimitReached)
        reply = Reply(
            ok=False, worker=self.id, error=str(exc), reason="limit" if limit else "unavailable"
        )
        await self._reply(job, reply)

    async def _follow_room(self, held: HeldRoom) -> None:
        """Publish who is in the room; end it when it stays empty too long; clean up when
        the session ends here (unless it was handed over)."""
        live = self.sessions.get(held.session_id)
        if live is None:
            return
        live.session.log.subscribe(functools.partial(self._participants_event, held))
        timeout = self.config.rooms.empty_timeout_s
        empty_since: float | None = None
        while not live.task.done():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(EMPTY_CHECK_S):
                    await held.changed.wait()
            if held.changed.is_set():
                held.changed.clear()
                people = [
                    {"identity": s.info.identity, "name": s.info.display_name,
                     "role": s.info.role}
                    for s in live.session.speakers.values()
                ]  # fmt: skip
                await self.rooms.update(held.state.record.id, participants=people)
            if live.session.speakers:
                empty_since = None
            elif empty_since is None:
                empty_since = time.monotonic()
            elif time.monotonic() - empty_since >= timeout:
                log.info("room %s was empty for %.0f s: ending it", held.state.record.id, timeout)
                await self.sessions.end(held.session_id)
        await asyncio.gather(live.task, return_exceptions=True)
        self._held.pop(held.delivery.entry, None)
        if not held.handed_off:
            await self._end_room(held)

    def _participants_event(self, held: HeldRoom, event: ev.Event) -> None:
        if isinstance(event, ev.ParticipantJoined | ev.ParticipantLeft):
            held.changed.set()

    async def _end_room(self, held: HeldRoom) -> None:
        """The call is over for the agent: the job is done, the room gone."""
        record = held.state.record
        await self.queue.done(held.delivery)
        if await self.rooms.remove(record):
            await self.janus.destroy_room(record.janus_url, record.janus_id)
        await self.redis.publish(self.keys.direct, json.dumps({"room": record.id, "end": True}))
        log.info("worker %s: room %s ended", self.id, record.id)

    async def _hand_off(self, held: HeldRoom) -> None:
        """Stop this part of the room's session and put the job back for another worker."""
        started = time.monotonic()
        held.handed_off = True
        live = self.sessions.get(held.session_id)
        if live is not None:
            live.session.hand_off(self.id, "drain")
            await self.sessions.end(held.session_id)
        ended = time.monotonic()
        if self.sessions.audit is not None:
            await self.sessions.audit.writer.flush()  # the next worker reads the stored head
        record = held.state.record
        job = Job(kind="room", agent=record.agent, room_id=record.id, handoff_from=self.id)
        await self.queue.submit(job)
        await self.queue.done(held.delivery)
        log.info("worker %s: room %s handed over (session ended in %.0f ms, stored in %.0f ms)",
                 self.id, record.id, 1000 * (ended - started),
                 1000 * (time.monotonic() - ended))  # fmt: skip

    def _direct(self, room_id: str, identities: frozenset[str], message: dict[str, Any]) -> None:
        payload = json.dumps({"room": room_id, "to": sorted(identities), "message": message})
        self._spawn(self._publish_direct(payload))

    async def _publish_direct(self, payload: str) -> None:
        await self.redis.publish(self.keys.direct, payload)

    # --- background loops ----------------------------------------------------------------
    async def _keep_leases(self) -> None:
        interval = self.config.fleet.claim_idle_ms / 4000
        while True:
            await asyncio.sleep(interval)
            held = list(self._held.values())
            if not held:
                continue
            try:
                lost = await self.consumer.touch(h.delivery for h in held)
            except (OSError, RedisError) as exc:
                log.warning("worker %s: cannot touch leases: %s", self.id, exc)
                continue
            for delivery in lost:
                room = self._held.get(delivery.entry)
                if room is not None and not room.handed_off:
                    # Another worker took it (this loop stalled past claim_idle_ms): stop
                    # here without ending the room; the other agent runs it now.
                    log.error("worker %s: lost the lease of room %s to another worker",
                              self.id, room.state.record.id)  # fmt: skip
                    room.handed_off = True
                    live = self.sessions.get(room.session_id)
                    if live is not None:
                        live.session.hand_off(self.id, "lease lost")
                    self._spawn(self.sessions.end(room.session_id))

    async def _heartbeat(self) -> None:
        while True:
            try:
                await self.presence.beat(self.load())
            except (OSError, RedisError) as exc:
                log.warning("worker %s: heartbeat failed: %s", self.id, exc)
            await asyncio.sleep(self.presence.heartbeat_s)

    async def _control(self) -> None:
        """Requests for this worker from API nodes: end a call or a room."""
        while True:
            try:
                await self._follow_control()
            except (OSError, RedisError) as exc:
                log.warning("worker %s: control channel lost (%s); resubscribing", self.id, exc)
                await asyncio.sleep(1.0)

    async def _follow_control(self) -> None:
        pubsub = self.redis.pubsub()
        await pubsub.subscribe(self.keys.control(self.id))
        try:
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                try:
                    request = json.loads(message["data"])
                except ValueError:
                    continue
                if isinstance(session_id := request.get("end_session"), str):
                    self._spawn(self.sessions.end(session_id))
                elif isinstance(room_id := request.get("end_room"), str):
                    for held in list(self._held.values()):
                        if held.state.record.id == room_id:
                            self._spawn(self.sessions.end(held.session_id))
        finally:
            await pubsub.aclose()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
