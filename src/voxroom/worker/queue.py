"""Jobs in Redis streams with consumer groups: one stream per agent name, one group
(`workers`) that every worker reads as a consumer of its own.

- `submit` (API) adds a job; `take` (a worker with a free slot) reads new ones: each entry
  goes to exactly one consumer, and only workers with room ask.
- A room job's entry stays *pending* (unacknowledged) while its agent runs: it is the job's
  lease. Its owner touches it every `claim_idle_ms / 4` (`touch`: XCLAIM to itself, only
  while it is still the owner), so its idle time stays near zero.
- A worker that dies stops touching: after `claim_idle_ms` its entries are idle enough for
  `claim_lost` (XAUTOCLAIM) by another worker with a free slot, who continues the job.
- `done` acknowledges and deletes an entry (the job is over, or handed over as a new one).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from voxroom.worker.jobs import Job
from voxroom.worker.keys import GROUP, Keys

log = logging.getLogger(__name__)

# Touch entries the caller still owns; 1 per id it owns (touched), 0 for one it lost.
_TOUCH = """
local out = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
"""


@dataclass(frozen=True, slots=True)
class Delivery:
    """A job as one worker received it: its stream entry, and whether it was claimed from
    a lost worker (not read new)."""

    stream: str
    entry: str
    job: Job
    claimed: bool = False


class JobQueue:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._groups: set[str] = set()

    async def ensure_group(self, agent: str) -> str:
        """The agent's stream and its group (created, from the start of the stream, if new:
        a job submitted before any worker came is not lost)."""
        stream = self._keys.jobs(agent)
        if stream not in self._groups:
            try:
                await self._redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            self._groups.add(stream)
        return stream

    async def submit(self, job: Job) -> str:
        stream = await self.ensure_group(job.agent)
        return cast(str, await self._redis.xadd(stream, job.fields()))  # type: ignore[arg-type]

    async def done(self, delivery: Delivery) -> None:
        await self.done_entry(delivery.stream, delivery.entry)

    async def done_entry(self, stream: str, entry: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(stream, GROUP, entry)
            pipe.xdel(stream, entry)
            await pipe.execute()


class Consumer:
    """One worker's side of the queue."""

    def __init__(
        self, queue: JobQueue, redis: Redis, name: str, agents: Sequence[str], claim_idle_ms: int
    ) -> None:
        self.queue = queue
        self._redis = redis
        self.name = name
        self._agents = list(agents)
        self._streams: list[str] = []
        self._claim_idle_ms = claim_idle_ms
        self._cursors: dict[str, str] = {}
        self._touch = redis.register_script(_TOUCH)

    async def start(self) -> None:
        self._streams = [await self.queue.ensure_group(agent) for agent in self._agents]
        self._cursors = dict.fromkeys(self._streams, "0-0")

    async def take(self, block_ms: int) -> list[Delivery]:
        """At most one new job per stream (call only with room for that many), waiting up
        to `block_ms` for one."""
        answer = await self._redis.xreadgroup(
            GROUP, self.name, dict.fromkeys(self._streams, ">"), count=1, block=block_ms
        )
        deliveries = []
        for stream, entries in cast(list[tuple[str, list[tuple[str, Any]]]], answer or []):
            for entry, fields in entries:
                deliveries.append(_delivery(stream, entry, fields, claimed=False))
        return [d for d in deliveries if d is not None]

    async def claim_lost(self) -> Delivery | None:
        """One job whose worker stopped touching it `claim_idle_ms` ago, now ours; or None."""
        for stream in self._streams:
            answer = await self._redis.xautoclaim(
                stream, GROUP, self.name, self._claim_idle_ms, self._cursors[stream], count=1
            )
            cursor, claimed = cast(tuple[str, list[tuple[str, Any]]], tuple(answer[:2]))
            self._cursors[stream] = cursor
            for entry, fields in claimed:
                if fields is None:  # deleted meanwhile (the job ended): nothing to run
                    continue
                delivery = _delivery(stream, entry, fields, claimed=True)
                if delivery is not None:
                    return delivery
        return None

    async def touch(self, held: Iterable[Delivery]) -> list[Delivery]:
        """Keep our pending entries fresh; returns those we no longer own (another worker
        claimed them: our loop stalled longer than `claim_idle_ms`)."""
        by_stream: dict[str, list[Delivery]] = defaultdict(list)
        for delivery in held:
            by_stream[delivery.stream].append(delivery)
        lost = []
        for stream, deliveries in by_stream.items():
            owned = await self._touch(
                keys=[stream], args=[GROUP, self.name, *(d.entry for d in deliveries)]
            )
            lost += [d for d, ok in zip(deliveries, owned, strict=True) if not ok]
        return lost


def _delivery(stream: Any, entry: Any, fields: Any, *, claimed: bool) -> Delivery | None:
    try:
        job = Job.parse(fields)
    except ValueError:
        log.error("job %s in %s is not a job: %r (dropped)", entry, stream, fields)
        return None
    return Delivery(str(stream), str(entry), job, claimed)
