"""A worker's presence and load: a Redis hash that expires unless refreshed (three missed
heartbeats and the worker is gone for the API), and the same figures as Prometheus gauges
on the worker's /metrics for an autoscaler. Also where the memory limit is enforced: above
it the worker takes no jobs (and says so once in its log) until it is back under 90 %."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

import psutil
from prometheus_client import CollectorRegistry, Gauge
from redis.asyncio import Redis

from voxroom.worker.keys import Keys

log = logging.getLogger(__name__)
RESUME_BELOW = 0.9  # of the memory limit


@dataclass(frozen=True, slots=True)
class Load:
    sessions: int
    capacity: int
    inbound_backlog_frames: int
    draining: bool


class Presence:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        worker_id: str,
        agents: list[str],
        *,
        heartbeat_s: float,
        memory_limit_mb: int | None,
        registry: CollectorRegistry,
        health_url: str = "",
    ) -> None:
        self._redis = redis
        self._keys = keys
        self.worker_id = worker_id
        self._agents = agents
        self.heartbeat_s = heartbeat_s
        self._limit = memory_limit_mb * 2**20 if memory_limit_mb else None
        self.health_url = health_url
        self.memory_full = False
        self._process = psutil.Process()
        self._process.cpu_percent()  # the first call starts the measuring interval
        self.started_at = time.time()
        labels = ["worker"]
        r = registry
        self._sessions = Gauge("voxroom_worker_sessions", "Sessions running.", labels, registry=r)
        self._capacity = Gauge("voxroom_worker_capacity", "Sessions it may run.", labels,
                               registry=r)  # fmt: skip
        self._free = Gauge("voxroom_worker_free_slots", "Jobs it can take now (0 while "
                           "draining or over its memory limit).", labels, registry=r)  # fmt: skip
        self._cpu = Gauge("voxroom_worker_cpu_percent", "Process CPU, % of one core.", labels,
                          registry=r)  # fmt: skip
        self._rss = Gauge("voxroom_worker_memory_bytes", "Resident memory.", labels, registry=r)
        self._backlog = Gauge("voxroom_worker_inbound_backlog_frames", "Most inbound audio "
                              "frames any session has waiting.", labels, registry=r)  # fmt: skip
        self._draining = Gauge("voxroom_worker_draining", "1 while draining.", labels,
                               registry=r)  # fmt: skip

    def accepting(self, load: Load) -> bool:
        return not load.draining and not self.memory_full and load.sessions < load.capacity

    async def beat(self, load: Load) -> None:
        """Measure, check the memory limit, publish (Redis and gauges)."""
        rss = self._process.memory_info().rss
        cpu = self._process.cpu_percent()
        self._check_memory(rss)
        accepting = self.accepting(load)
        figures = {
            "agents": json.dumps(self._agents),
            "sessions": load.sessions,
            "capacity": load.capacity,
            "accepting": int(accepting),
            "draining": int(load.draining),
            "memory_full": int(self.memory_full),
            "cpu_percent": round(cpu, 1),
            "rss_bytes": rss,
            "inbound_backlog_frames": load.inbound_backlog_frames,
            "health_url": self.health_url,
            "started_at": self.started_at,
            "seen_at": time.time(),
        }
        key = self._keys.worker(self.worker_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=figures)  # type: ignore[arg-type]
            pipe.expire(key, max(1, round(3 * self.heartbeat_s)))
            pipe.sadd(self._keys.workers, self.worker_id)
            await pipe.execute()
        me = self.worker_id
        self._sessions.labels(me).set(load.sessions)
        self._capacity.labels(me).set(load.capacity)
        self._free.labels(me).set(max(0, load.capacity - load.sessions) if accepting else 0)
        self._cpu.labels(me).set(cpu)
        self._rss.labels(me).set(rss)
        self._backlog.labels(me).set(load.inbound_backlog_frames)
        self._draining.labels(me).set(int(load.draining))

    def _check_memory(self, rss: int) -> None:
        if self._limit is None:
            return
        if not self.memory_full and rss > self._limit:
            self.memory_full = True
            log.error(
                "worker %s: memory limit hit (%d MB resident, limit %d MB): taking no new "
                "jobs; running sessions go on",
                self.worker_id, rss // 2**20, self._limit // 2**20,
            )  # fmt: skip
        elif self.memory_full and rss < RESUME_BELOW * self._limit:
            self.memory_full = False
            log.warning("worker %s: memory back to %d MB: taking jobs again",
                        self.worker_id, rss // 2**20)  # fmt: skip

    async def leave(self) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._keys.worker(self.worker_id))
            pipe.srem(self._keys.workers, self.worker_id)
            await pipe.execute()


async def live_workers(redis: Redis, keys: Keys) -> dict[str, dict[str, str]]:
    """Every worker whose presence has not expired, with its last published figures."""
    ids = sorted(str(w) for w in await redis.smembers(keys.workers))
    async with redis.pipeline(transaction=False) as pipe:
        for worker_id in ids:
            pipe.hgetall(keys.worker(worker_id))
        found = await pipe.execute()
    return {str(w): dict(h) for w, h in zip(ids, found, strict=True) if h}
