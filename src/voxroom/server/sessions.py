"""Live sessions of this process, whatever their transport: start, look up, end.

A peer-to-peer session starts from an SDP offer (`create`); a room's agent session starts
from a transport already in the room (`start`). Either way the session is audited, observed
(metrics, spans) and counted against the process's limit the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from voxroom.agent.agent import Agent
from voxroom.agent.continuation import Continuation
from voxroom.agent.policy import PolicyName
from voxroom.agent.session import AgentSession
from voxroom.audit.log import SessionEventLog, Subscriber
from voxroom.config import VoxroomConfig
from voxroom.ids import new_id
from voxroom.providers.factory import ModelSet
from voxroom.server.audit_service import AuditService
from voxroom.server.heap_trim import HeapTrimmer
from voxroom.transport.base import ParticipantInfo, Transport
from voxroom.transport.p2p.peer import P2PTransport

log = logging.getLogger(__name__)
END_TIMEOUT_S = 10.0


class SessionLimitReached(RuntimeError):
    pass


@dataclass(slots=True)
class LiveSession:
    session: AgentSession
    transport: Transport
    task: asyncio.Task[None]


class SessionRegistry:
    def __init__(
        self,
        config: VoxroomConfig,
        models: ModelSet,
        agent_factory: Callable[[], Agent],
        audit: AuditService | None = None,
    ) -> None:
        self._config = config
        self._models = models
        self._agent_factory = agent_factory
        self.audit = audit
        self.observers: list[Subscriber] = []  # subscribed to every session's log (metrics…)
        self.heap = HeapTrimmer()  # what ended sessions freed goes back to the system
        self._live: dict[str, LiveSession] = {}
        self._starting = 0
        # Journal room sessions for crash recovery (`audit.recovery`)? A fleet worker does
        # not: its rooms are continued by another worker if it dies, never closed as crashed.
        self.journal_rooms = True

    def __len__(self) -> int:
        return len(self._live)

    def _reserve(self) -> None:
        if len(self._live) + self._starting >= self._config.server.max_sessions:
            raise SessionLimitReached(f"at most {self._config.server.max_sessions} sessions")
        self._starting += 1  # held across the caller's awaits (concurrent requests)

    async def create(
        self,
        offer_sdp: str,
        identity: str | None = None,
        agent_factory: Callable[[], Agent] | None = None,
    ) -> tuple[str, str]:
        """Answer an offer and start its session; returns (session id, answer SDP).
        `identity`: who the offer came from (the token's subject); `agent_factory`: another
        agent than the registry's own (a fleet worker serving several)."""
        self._reserve()
        transport = P2PTransport(self._config.transport, ParticipantInfo(identity or "user"))
        try:
            answer = await transport.accept(offer_sdp)
            session_id = self._start(transport, (agent_factory or self._agent_factory)())
        except BaseException:
            await transport.close()
            raise
        finally:
            self._starting -= 1
        return session_id, answer

    def start(
        self,
        transport: Transport,
        agent: Agent,
        *,
        policy: PolicyName | None = None,
        wake_phrases: Sequence[str] = (),
        session_id: str | None = None,
        continued: tuple[SessionEventLog, Continuation] | None = None,
    ) -> str:
        """Start a session over a transport that is already connected (a room's agent).
        `session_id`: the id the fleet chose for the room's session (None: a new one);
        `continued`: the log and the conversation of a session another worker began."""
        self._reserve()
        try:
            return self._start(
                transport,
                agent,
                policy=policy,
                wake_phrases=wake_phrases,
                session_id=session_id,
                continued=continued,
                journal=self.journal_rooms,
            )
        finally:
            self._starting -= 1

    def _start(
        self,
        transport: Transport,
        agent: Agent,
        *,
        policy: PolicyName | None = None,
        wake_phrases: Sequence[str] = (),
        session_id: str | None = None,
        continued: tuple[SessionEventLog, Continuation] | None = None,
        journal: bool = True,
    ) -> str:
        session_id = session_id or new_id(12)
        event_log = continued[0] if continued else SessionEventLog(session_id)
        for observe in self.observers:
            event_log.subscribe(observe)
        session = AgentSession(
            session_id,
            agent,
            transport,
            self._models,
            self._config,
            event_log,
            policy=policy,
            wake_phrases=wake_phrases,
            continued=continued[1] if continued else None,
        )
        if self.audit is not None:
            self.audit.attach(event_log, journal=journal)
            part = continued[1].part if continued else 1
            self.audit.record(
                session, transport.audio_out, per_participant=transport.multiparty, part=part
            )
        task = asyncio.create_task(self._run(session_id, session, transport))
        self._live[session_id] = LiveSession(session, transport, task)
        log.info("session %s started (%d live)", session_id, len(self._live))
        return session_id

    async def _run(self, session_id: str, session: AgentSession, transport: Transport) -> None:
        try:
            await session.run()
        except Exception:
            log.exception("session %s failed", session_id)
        finally:
            await transport.close()
            self._live.pop(session_id, None)
            log.info("session %s ended (%d live)", session_id, len(self._live))
            self.heap.session_ended(live=len(self._live))

    def inbound_backlog_frames(self) -> int:
        """The most inbound audio frames any live session has waiting (0: all in real time)."""
        return max(
            (live.transport.inbound_backlog_frames for live in self._live.values()),
            default=0,
        )

    def get(self, session_id: str) -> LiveSession | None:
        return self._live.get(session_id)

    async def end(self, session_id: str) -> bool:
        live = self._live.get(session_id)
        if live is None:
            return False
        await live.transport.close()  # ends the call: the session winds down by itself
        done, _ = await asyncio.wait({live.task}, timeout=END_TIMEOUT_S)
        if not done:  # stuck (a hook that never returns): cut it off
            live.task.cancel()
            await asyncio.gather(live.task, return_exceptions=True)
        return True

    async def wait_ended(self, timeout: float) -> bool:
        """Wait until no session is live, at most `timeout` s; True if none is."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._live or self._starting:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return False
            tasks = [live.task for live in self._live.values()]
            if tasks:
                await asyncio.wait(tasks, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            else:  # one is starting: it is live in a moment
                await asyncio.sleep(min(0.05, remaining))
        return True

    async def close_all(self) -> None:
        for session_id in list(self._live):
            await self.end(session_id)
        await self.heap.close()
