"""How the process's shared models serve several sessions at once, measured where it happens.

Models load once per process and every session calls them, so these figures are process-wide
too: how many transcriptions one recognizer call ran as a batch, and how many LLM generations
one llama.cpp decode step advanced together. The server exposes them on `/metrics`
(`voxroom_stt_batch_size`, `voxroom_llm_parallel`); `voxroom bench capacity` reads them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)
_SIZES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)

STT_BATCH_SIZE = Histogram(
    "voxroom_stt_batch_size",
    "Transcriptions run as one recognizer call (one observation per call).",
    buckets=_SIZES,
    registry=REGISTRY,
)
LLM_PARALLEL = Histogram(
    "voxroom_llm_parallel",
    "LLM generations advanced together by one decode step (one observation per step that "
    "produced tokens).",
    buckets=_SIZES,
    registry=REGISTRY,
)


class Running:
    """How many of something run right now in this process: model calls in the model pools
    (Whisper, Piper, embeddings), calls (sessions), whose media work keeps the event loop
    busy, and agents speaking (their audio is paced out, and listened over for barge-in, on
    the event loop). The LLM engine takes a second thread only while nothing else needs a
    core."""

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        return self._count

    def add(self, delta: int) -> None:
        with self._lock:
            self._count += delta

    @contextmanager
    def running(self) -> Iterator[None]:
        self.add(1)
        try:
            yield
        finally:
            self.add(-1)


MODELS_RUNNING = Running()
SESSIONS_RUNNING = Running()
AGENTS_SPEAKING = Running()
