"""Requests from many sessions to one model, run together as batches.

`BatchRunner` is `ModelRunner.run` for models that take a batch: while the model is busy,
requests queue; when it is free, everything queued that can share a call (the same `key`,
up to `max_batch`) goes in one call. Nothing waits to fill a batch: a lone request runs at
once, and batches form only when sessions really overlap. A request cancelled while it
waits (a speculative transcription the user talked over) is dropped before the call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from prometheus_client import Histogram

from voxroom.providers.sharing import MODELS_RUNNING

R = TypeVar("R")  # a request
T = TypeVar("T")  # its result


@dataclass(eq=False, slots=True)
class _Waiting(Generic[R, T]):
    request: R
    key: Hashable
    future: asyncio.Future[T]


class BatchRunner(Generic[R, T]):
    """Runs `run_batch(requests) -> results` (same order; an exception in place of a result
    fails that request only) in one worker thread."""

    def __init__(
        self,
        name: str,
        run_batch: Callable[[Sequence[R]], Sequence[T | BaseException]],
        *,
        max_batch: int,
        key: Callable[[R], Hashable] = lambda _: None,
        sizes: Histogram | None = None,
    ) -> None:
        self.name = name
        self._run_batch = run_batch
        self._max = max(1, max_batch)
        self._key = key
        self._sizes = sizes
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"voxroom-{name}")
        self._queue: list[_Waiting[R, T]] = []
        self._busy = False
        self._drainer: asyncio.Task[None] | None = None

    @property
    def in_flight(self) -> int:
        """Requests queued or running."""
        return len(self._queue) + (1 if self._busy else 0)

    async def run(self, request: R) -> T:
        loop = asyncio.get_running_loop()
        waiting: _Waiting[R, T] = _Waiting(request, self._key(request), loop.create_future())
        self._queue.append(waiting)
        if not self._busy:
            self._busy = True
            self._drainer = loop.create_task(self._drain())  # ends when the queue is empty
        return await waiting.future

    def take(self) -> list[_Waiting[R, T]]:
        """The next batch: the oldest live request and the queued ones sharing its key."""
        self._queue = [w for w in self._queue if not w.future.done()]  # cancelled: dropped
        if not self._queue:
            return []
        key = self._queue[0].key
        batch = [w for w in self._queue if w.key == key][: self._max]
        self._queue = [w for w in self._queue if w not in batch]
        return batch

    def _running(self, requests: list[R]) -> Sequence[T | BaseException]:
        with MODELS_RUNNING.running():
            return self._run_batch(requests)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while batch := self.take():
                if self._sizes is not None:
                    self._sizes.observe(len(batch))
                requests = [w.request for w in batch]
                try:
                    results: Sequence[T | BaseException] = await loop.run_in_executor(
                        self._pool, self._running, requests
                    )
                except Exception as exc:
                    results = [exc] * len(batch)
                for waiting, result in zip(batch, results, strict=True):
                    if waiting.future.done():
                        continue
                    if isinstance(result, BaseException):
                        waiting.future.set_exception(result)
                    else:
                        waiting.future.set_result(result)
        finally:
            self._busy = False

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
