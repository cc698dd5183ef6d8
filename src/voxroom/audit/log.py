"""The per-session event log: stamps events and fans them out without blocking the caller.

Subscribers are cheap synchronous callbacks (forward to the client, update metrics); durable
storage subscribes through a queue drained by its own task (see `writer`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from voxroom.audit.events import Event

log = logging.getLogger(__name__)

Subscriber = Callable[[Event], None]


class SessionEventLog:
    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self._started = time.monotonic()
        self.started_at = time.time()
        self._seq = 0
        self._subscribers: list[Subscriber] = []

    @classmethod
    def resume(cls, session_id: str, seq: int, started_at: float) -> SessionEventLog:
        """The log of a session another process began (a fleet worker that died or drained):
        its next event is `seq + 1` (the stored chain goes on) and its clock counts from
        `started_at` (unix seconds), so session times stay one timeline."""
        log = cls(session_id)
        log._seq = seq
        log.started_at = started_at
        log._started = time.monotonic() - max(0.0, time.time() - started_at)
        return log

    @property
    def seq(self) -> int:
        """The seq of the last event emitted."""
        return self._seq

    def clock(self) -> float:
        """Seconds since the session started: the clock recordings and events share."""
        return time.monotonic() - self._started

    def to_session_time(self, monotonic: float) -> float:
        return monotonic - self._started

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def emit(self, event: Event) -> Event:
        self._seq += 1
        event.session_id = self.session_id
        event.seq = self._seq
        event.t = round(self.clock(), 4)
        event.ts = time.time()
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception:  # one broken view must not break the session or the others
                log.exception("event subscriber failed on %s", event.type)
        return event
