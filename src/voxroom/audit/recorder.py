"""Session recordings: user, agent and stereo WAV files, streamed to disk on the session clock.

Three files per session, 16-bit PCM at one rate (16 kHz by default): `user.wav` (inbound audio),
`agent.wav` (outbound audio, silence included) and `stereo.wav` (user left, agent right). The
observers run on the event loop and only resample, stamp and place chunks; placed audio goes in
~0.5 s blocks to the process's one recording writer thread, which appends it and rewrites the
WAV sizes after every block, so a killed process leaves valid files up to the last flush.
Nothing longer than about a second is held in memory.

Alignment rule (implemented in `alignment`; the files in `wavfiles`): file position n *is*
session-clock time n / rate, for every file.

* A chunk is stamped with the clock when its observer sees it: an inbound chunk has just
  arrived, so the stamp is its end; an outbound frame is being sent, so the stamp is its start.
  Its *offset* is where its end lands if appended contiguously (audio still inside the
  resampler counted) minus where the clock puts it: > 0 the track runs ahead, < 0 behind.
* Chunks wait `lookahead` (0.4 s) before they are placed, so each decision also sees the
  chunks that arrived just after it.
* Resync: if every chunk in the lookahead is more than `resync_tolerance` (60 ms) behind — the
  peer stopped sending, the track started late — silence is inserted up to the lookahead's
  median offset (symmetrically, a lookahead wholly ahead is trimmed). A burst (a late chunk,
  then a backlog that catches up) never qualifies, since its last chunks are on time: bursts
  stay contiguous.
* Drift (clock-rate mismatch, one-sided jitter): the median offset of the last ~150 chunks is
  held within `drift_tolerance` (8 ms) by inserting or dropping at most `max_step` (10 ms) of
  audio, before a quiet chunk, or before any chunk once it exceeds `urgent_drift` (15 ms).
* A track that receives nothing (peer silent) is filled with silence up to `idle_hold` (1 s)
  behind the clock, so the stereo interleave never holds the other track for long. On close,
  both tracks are padded to the session's end: the three files have the same length.

So, however long the session, a sound's file position stays within the urgent bound (plus the
median's noise, a few ms) of its clock time, and the stereo channels within that of each other.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from voxroom.audit.alignment import AlignmentConfig, TrackAligner, TrackStats
from voxroom.audit.wavfiles import Files, RecordedFile, RecordingFiles

__all__ = [
    "AlignmentConfig",
    "RecordedFile",
    "RecorderConfig",
    "Recording",
    "SessionRecorder",
    "TrackStats",
]

log = logging.getLogger(__name__)

Clock = Callable[[], float]
T = TypeVar("T")

DEFAULT_RATE = 16000


@dataclass(frozen=True)
class RecorderConfig:
    alignment: AlignmentConfig = field(default_factory=AlignmentConfig)
    flush_interval: float = 0.5  # session seconds between blocks handed to the writer thread


@dataclass(frozen=True)
class Recording:
    """The files as they stand on disk, and how each track was aligned."""

    user: RecordedFile
    agent: RecordedFile
    stereo: RecordedFile
    user_track: TrackStats
    agent_track: TrackStats


# One writer thread for every session in the process: blocks reach each file in the order
# they were handed over (FIFO), the loop never touches the disk, and a session adds no thread.
# Its thread starts with the first block; at exit Python joins it, so queued blocks land.
_WRITER = ThreadPoolExecutor(1, thread_name_prefix="voxroom-recorder")


def _log_failure(future: Future[Any]) -> None:
    if not future.cancelled() and (error := future.exception()) is not None:
        log.error("session recording: write failed", exc_info=error)


def _clock_from_now() -> Clock:
    started = time.monotonic()
    return lambda: time.monotonic() - started


class SessionRecorder:
    """Records a session's two audio tracks to `directory` as user, agent and stereo WAVs.

    `clock` returns session-clock seconds (pass `SessionEventLog.clock` so the files line up
    with the events; by default a clock that starts now). `inbound` and `outbound` are
    `AudioObserver`s, called on the event loop; `close()` finalizes the files.
    """

    def __init__(
        self,
        directory: str | Path,
        clock: Clock | None = None,
        sample_rate: int = DEFAULT_RATE,
        config: RecorderConfig | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.sample_rate = sample_rate
        self._config = config or RecorderConfig()
        self._clock = clock or _clock_from_now()
        self._user = TrackAligner(sample_rate, self._config.alignment, stamps_end=True)
        self._agent = TrackAligner(sample_rate, self._config.alignment, stamps_end=False)
        self._disk = RecordingFiles(self.directory, sample_rate)
        self._last_flush = self._clock()
        self._stopped = False  # closed, or failed: observers cannot be removed, so they no-op
        self._final: Future[Files] | None = None
        self._submit(self._disk.open)

    def inbound(self, samples: np.ndarray, sample_rate: int) -> None:
        """User audio as it arrives (an `AudioObserver` for `AgentSession.observe_inbound`)."""
        self._observe(self._user, samples, sample_rate)

    def outbound(self, samples: np.ndarray, sample_rate: int) -> None:
        """Agent audio as it is sent (an `AudioObserver` for `AudioSink.observe`)."""
        self._observe(self._agent, samples, sample_rate)

    async def flush(self) -> Recording:
        """Hand everything placed so far to the writer; return once it is on disk."""
        self._commit_due(self._clock())
        return self._recording(await asyncio.wrap_future(self._flush_blocks()))

    async def close(self) -> Recording:
        """Pad both tracks to the session's end and finalize the files (on the writer thread:
        the loop only awaits). Idempotent. Raises the writer's error if writing failed."""
        if self._final is None:
            self._stopped = True
            self._final = self._finish()
        return self._recording(await asyncio.wrap_future(self._final))

    def _finish(self) -> Future[Files]:
        end = round(self._clock() * self.sample_rate)
        longest = max(end, self._user.finish(), self._agent.finish())
        for track in (self._user, self._agent):
            track.pad_to(longest)
        user, agent = self._user.take_blocks(), self._agent.take_blocks()
        return self._submit(self._disk.finalize, user, agent)

    def _observe(self, track: TrackAligner, samples: np.ndarray, sample_rate: int) -> None:
        if self._stopped:
            return
        try:
            now = self._clock()
            track.add(samples, sample_rate, now)
            self._commit_due(now)
            if now - self._last_flush >= self._config.flush_interval:
                self._flush_blocks()
                self._last_flush = now
        except Exception:  # a recording bug must not break the call: stop recording only
            log.exception("session recording stopped")
            self._stopped = True

    def _commit_due(self, now: float) -> None:
        # Both tracks advance on either's call, so a silent peer's track is still filled.
        self._user.commit_due(now)
        self._agent.commit_due(now)

    def _flush_blocks(self) -> Future[Files]:
        return self._submit(self._disk.append, self._user.take_blocks(), self._agent.take_blocks())

    def _submit(self, action: Callable[..., T], *args: Any) -> Future[T]:
        future = _WRITER.submit(action, *args)
        future.add_done_callback(_log_failure)
        return future

    def _recording(self, files: Files) -> Recording:
        user, agent, stereo = files
        return Recording(
            user,
            agent,
            stereo,
            self._user.counters.stats(self.sample_rate),
            self._agent.counters.stats(self.sample_rate),
        )
