"""The job queue on a real Redis: one consumer per job, leases kept fresh, lost jobs claimed."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from voxroom.worker.jobs import Job
from voxroom.worker.keys import Keys
from voxroom.worker.queue import Consumer, JobQueue

CLAIM_IDLE_MS = 300


async def consumers(redis: Redis, *names: str) -> tuple[JobQueue, list[Consumer]]:
    queue = JobQueue(redis, Keys("test"))
    made = [Consumer(queue, redis, name, ["nova"], CLAIM_IDLE_MS) for name in names]
    for consumer in made:
        await consumer.start()
    return queue, made


async def test_each_job_goes_to_exactly_one_worker(redis: Redis) -> None:
    queue, (one, two) = await consumers(redis, "w1", "w2")
    jobs = [Job(kind="room", agent="nova", room_id=f"r{n}") for n in range(10)]
    for job in jobs:
        await queue.submit(job)
    taken: list[str] = []
    for _ in range(10):
        for consumer in (one, two):
            taken += [d.job.id for d in await consumer.take(block_ms=50)]
    assert sorted(taken) == sorted(job.id for job in jobs)


async def test_a_job_submitted_before_any_worker_is_not_lost(redis: Redis) -> None:
    queue = JobQueue(redis, Keys("test"))
    job = Job(kind="room", agent="nova", room_id="early")
    await queue.submit(job)
    _, (late,) = await consumers(redis, "late")
    assert [d.job.id for d in await late.take(block_ms=50)] == [job.id]


async def test_a_touched_lease_is_never_claimed_and_a_lost_one_is(redis: Redis) -> None:
    queue, (owner, other) = await consumers(redis, "owner", "other")
    await queue.submit(Job(kind="room", agent="nova", room_id="r"))
    (delivery,) = await owner.take(block_ms=50)
    for _ in range(4):  # alive: touched well within the idle limit
        await asyncio.sleep(CLAIM_IDLE_MS / 4000)
        assert await owner.touch([delivery]) == []
        assert await other.claim_lost() is None
    await asyncio.sleep(CLAIM_IDLE_MS / 1000 + 0.1)  # the owner stopped: it died
    claimed = await other.claim_lost()
    assert claimed is not None and claimed.claimed and claimed.job.id == delivery.job.id
    assert await owner.touch([delivery]) == [delivery]  # fenced: it is not ours any more
    await queue.done(claimed)
    assert await other.claim_lost() is None and await other.take(block_ms=50) == []
