"""Hand glibc's free heap pages back to the system as sessions end (issue 15).

A session's work frees most of what it allocated, but glibc only shrinks a heap from its top.
Freed memory below a block that is still in use stays resident until malloc reuses it, and
inference buffers of a few MB (Piper's activations, Whisper's features, llama.cpp's) come and
go between the small allocations of live sessions, so the free memory inside the heaps grew
with the sessions: measured in a soak, the memory in use stayed flat while the heaps' free
lists held more and more of the RSS, and `malloc_trim(0)` at the end gave it back at once
(docs/reliability.md has the figures).

`malloc_trim(0)` walks every arena's free chunks and returns the whole pages inside them
(madvise), wherever they are. It runs on a worker thread (ctypes releases the GIL), but the
loop waits if it allocates in an arena while that arena is walked: measured, a trim giving
back 200 MB took 9-46 ms and held a loop that allocated audio buffers for as long. So it runs
at once when the last live session ends (nobody is waiting then), and otherwise at most once
every `interval_s` while sessions keep ending (the last of a busy stretch included), when
there is only what a few sessions freed to walk. What it returns is faulted back in when
reused: trimming at every session end of a busy server would pay that over and over.

When the server goes idle, a full garbage collection runs first, on the loop (10-60 ms with
the start-up objects frozen, `memory.freeze_startup_objects`): the reference cycles of
finished sessions (aiortc's peers with their codec and SRTP contexts) otherwise wait for the
interpreter's next full collection, and an idle server allocates nothing that would bring it
on: a short soak ended with 15 MB in use held by 33k such objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time

from voxroom.server.memory import malloc_trim, malloc_trim_available

log = logging.getLogger(__name__)

TRIM_INTERVAL_S = 30.0


class HeapTrimmer:
    def __init__(self, interval_s: float = TRIM_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.enabled = malloc_trim_available()
        self.trims = 0
        self.last_ms = 0.0  # how long the last trim took (on its thread)
        self.max_ms = 0.0
        self.total_ms = 0.0
        self.collections = 0  # full collections when the server went idle
        self.collect_ms = 0.0  # the last one's time on the loop
        self._last_at = float("-inf")
        self._wanted = False
        self._closed = False
        self._idle = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def session_ended(self, live: int) -> None:
        """A session ended and `live` are still running (on the event loop): trim now if
        none is, else when the interval since the last trim is up."""
        if not self.enabled or self._closed:
            return
        self._wanted = True
        if live == 0:
            self._idle.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while self._wanted and self.enabled:
            wait = self._last_at + self.interval_s - time.monotonic()
            if wait > 0 and not self._idle.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._idle.wait(), wait)
            if self._closed:
                return
            idle = self._idle.is_set()
            self._wanted = False
            self._idle.clear()
            self._last_at = time.monotonic()
            if idle:
                self._collect()
            await self._trim()

    def _collect(self) -> None:
        started = time.monotonic()
        gc.collect()
        self.collections += 1
        self.collect_ms = (time.monotonic() - started) * 1000

    async def _trim(self) -> None:
        started = time.monotonic()
        try:
            await asyncio.to_thread(malloc_trim)
        except Exception:  # never a reason to disturb a session
            log.exception("malloc_trim failed; heap trimming is off")
            self.enabled = False
            return
        self.trims += 1
        self.last_ms = (time.monotonic() - started) * 1000
        self.max_ms = max(self.max_ms, self.last_ms)
        self.total_ms += self.last_ms
        log.debug("heap trimmed in %.1f ms", self.last_ms)

    def stats(self) -> dict[str, float | int | bool]:
        return {
            "enabled": self.enabled,
            "trims": self.trims,
            "last_ms": round(self.last_ms, 1),
            "max_ms": round(self.max_ms, 1),
            "mean_ms": round(self.total_ms / max(1, self.trims), 1),
            "collections": self.collections,
            "collect_ms": round(self.collect_ms, 1),
        }

    async def close(self) -> None:
        """Stop trimming: a trim under way finishes, one waiting for its time is dropped."""
        self._closed = True
        self._idle.set()  # a wait for the interval ends now, and no trim follows it
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
