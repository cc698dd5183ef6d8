"""providers/gathering.py: one model thread for many sessions' tiny calls."""

from __future__ import annotations

import asyncio
import threading

import pytest

from voxroom.providers.gathering import GatheringRunner


def _thread_name() -> str:
    return threading.current_thread().name


async def test_results_and_errors_reach_their_callers() -> None:
    runner = GatheringRunner("test")

    def fail() -> None:
        raise ValueError("model broke")

    assert await runner.run(pow, 2, 10) == 1024
    assert await runner.run(_thread_name) == "voxroom-test"
    with pytest.raises(ValueError, match="model broke"):
        await runner.run(fail)
    assert await runner.run(pow, 3, 2) == 9  # the thread survives a failing call


async def test_one_caller_never_waits_for_company() -> None:
    runner = GatheringRunner("test", gather_s=0.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for value in range(20):
        assert await runner.run(abs, -value) == value
    assert loop.time() - started < 5  # waiting a gather window per call would take 10 s
    assert runner.batches == runner.calls == 20


async def test_concurrent_callers_are_batched_into_few_wakeups() -> None:
    runner = GatheringRunner("test", gather_s=0.01)

    async def session(index: int) -> list[int]:
        results = []
        for step in range(10):
            results.append(await runner.run(lambda i=index, s=step: i * 100 + s))
            await asyncio.sleep(0.005)
        return results

    results = await asyncio.gather(*(session(i) for i in range(16)))

    assert results == [[i * 100 + s for s in range(10)] for i in range(16)]
    assert runner.calls == 160
    assert runner.batches < 80  # mostly several sessions' calls per wake-up


async def test_a_cancelled_caller_does_not_disturb_the_others() -> None:
    runner = GatheringRunner("test")
    release = threading.Event()
    slow = asyncio.ensure_future(runner.run(release.wait, 5))
    await asyncio.sleep(0.05)
    queued = asyncio.ensure_future(runner.run(pow, 2, 3))
    slow.cancel()
    release.set()
    assert await queued == 8
    assert slow.cancelled()


async def test_batched_calls_run_as_one_call_per_batch_function() -> None:
    runner = GatheringRunner("test", gather_s=0.02)
    seen: list[list[int]] = []

    def squares(items: list[int]) -> list[int]:
        seen.append(list(items))
        return [item * item for item in items]

    def broken(items: list[int]) -> list[int]:
        raise ValueError("model broke")

    async def caller(value: int) -> int:
        await asyncio.sleep(0)
        return await runner.run_batched(squares, value)

    # Warm gathering up with concurrent calls, then eight callers at once.
    await asyncio.gather(runner.run(abs, -1), runner.run(abs, -2))
    results = await asyncio.gather(*(caller(value) for value in range(8)))
    assert results == [value * value for value in range(8)]
    assert sorted(v for batch in seen for v in batch) == list(range(8))
    assert len(seen) < 8  # several callers' items in one call

    failing = asyncio.gather(
        *(runner.run_batched(broken, value) for value in range(3)), return_exceptions=True
    )
    errors = await failing
    assert all(isinstance(error, ValueError) for error in errors)
    assert await runner.run_batched(squares, 5) == 25  # the thread survives a failing batch
