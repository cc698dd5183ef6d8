"""Placing one audio track on the session clock: the rule `voxroom.audit.recorder` states.

Loop side and cheap: a chunk is resampled and stamped when it is observed, placed once its
lookahead is complete, and the placed audio (with silence as sample counts, not arrays) waits
in blocks for the recorder to hand to its writer thread. No I/O here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import soxr

Blocks = list[np.ndarray | int]  # placed audio; an int is that many samples of silence

QUIET_PEAK = 1000  # int16 peak (≈ -30 dBFS) under which a correction is inaudible enough
_EMPTY = np.zeros(0, dtype=np.int16)


@dataclass(frozen=True)
class AlignmentConfig:
    """How a track is held to the session clock (seconds unless noted)."""

    lookahead: float = 0.4
    resync_tolerance: float = 0.06
    drift_tolerance: float = 0.008
    urgent_drift: float = 0.015
    max_step: float = 0.010
    drift_observations: int = 150  # chunks in the drift median (≈ 3 s of 20 ms chunks)
    min_observations: int = 25  # chunks seen since a resync before drift is judged
    idle_hold: float = 1.0


@dataclass(frozen=True)
class TrackStats:
    """What alignment did to one track: silence inserted, audio dropped, and how often.

    `padded_seconds` counts every silence the recorder put in: before the track's first audio
    (a participant who joined late), in gaps, and after it stopped (a participant who left)."""

    padded_seconds: float
    trimmed_seconds: float
    resyncs: int
    corrections: int

    @staticmethod
    def total(tracks: Iterable[TrackStats]) -> TrackStats:
        """The tracks' stats added up (of one track: its own; of none: zeros)."""
        stats = list(tracks)
        return TrackStats(
            sum((s.padded_seconds for s in stats), 0.0),
            sum((s.trimmed_seconds for s in stats), 0.0),
            sum(s.resyncs for s in stats),
            sum(s.corrections for s in stats),
        )


class _Resampler:
    """Streaming resampler to the file rate that reports the input it still holds back."""

    def __init__(self, out_rate: int) -> None:
        self.out_rate = out_rate
        self.in_rate = out_rate
        self._stream: Any = None  # soxr.ResampleStream, or None when no resampling is needed

    def process(self, samples: np.ndarray, in_rate: int) -> tuple[np.ndarray, int, int]:
        """→ (output, held before, held after), held in output samples."""
        if in_rate != self.in_rate:  # a rate change drops the old tail (≤ 30 ms; rare)
            self.in_rate = in_rate
            self._stream = None
            if in_rate != self.out_rate:
                self._stream = soxr.ResampleStream(in_rate, self.out_rate, 1, "int16")
        if self._stream is None:
            return samples.copy(), 0, 0  # copy: callers may reuse their buffers
        before = self.held()
        out = np.asarray(self._stream.resample_chunk(samples), dtype=np.int16)
        return out, before, self.held()

    def held(self) -> int:
        return 0 if self._stream is None else round(self._stream.delay())

    def drain(self) -> np.ndarray:
        """Everything still held back; the stream starts afresh afterwards."""
        if self.held() == 0:
            return _EMPTY
        tail = self._stream.resample_chunk(_EMPTY, last=True)
        self._stream.clear()
        return np.asarray(tail, dtype=np.int16)


@dataclass(slots=True)
class _Chunk:
    samples: np.ndarray  # at the file rate
    arrival: float  # session clock when observed
    end: float  # clock position of its end, in file samples
    held_before: int  # resampler output still owed to earlier chunks
    held_after: int


@dataclass
class _Counters:
    padded: int = 0
    trimmed: int = 0
    resyncs: int = 0
    corrections: int = 0

    def stats(self, rate: int) -> TrackStats:
        return TrackStats(self.padded / rate, self.trimmed / rate, self.resyncs, self.corrections)


class TrackAligner:
    """Places one track's chunks on the session clock. Loop side: no I/O, O(chunk) per call."""

    def __init__(self, rate: int, config: AlignmentConfig, stamps_end: bool) -> None:
        self.rate = rate
        self.counters = _Counters()
        self._config = config
        self._stamps_end = stamps_end
        self._resampler = _Resampler(rate)
        self._pending: deque[_Chunk] = deque()
        self._blocks: Blocks = []
        self._length = 0  # samples handed to blocks
        self._debt = 0  # samples still to drop from the next audio (a trim in progress)
        self._history = np.zeros(config.drift_observations)  # ring of recent offsets
        self._observed = 0
        self._next = 0

    @property
    def position(self) -> int:
        """Where the next kept sample will land in the file."""
        return self._length - self._debt

    @property
    def length(self) -> int:
        """Samples placed in blocks so far, taken or not: the track's length once written."""
        return self._length

    def _samples(self, seconds: float) -> float:
        return seconds * self.rate

    def add(self, samples: np.ndarray, in_rate: int, now: float) -> None:
        mono = np.asarray(samples, dtype=np.int16).reshape(-1)
        out, before, after = self._resampler.process(mono, in_rate)
        end = now if self._stamps_end else now + mono.size / in_rate
        self._pending.append(_Chunk(out, now, end * self.rate, before, after))

    def commit_due(self, now: float) -> None:
        """Place the chunks whose lookahead is complete; fill an idle track with silence."""
        while self._pending and self._pending[0].arrival <= now - self._config.lookahead:
            self._commit_head()
        if not self._pending:
            self._fill_idle(now)

    def finish(self) -> int:
        """Place everything still pending (short lookaheads) and the resampler's tail."""
        while self._pending:
            self._commit_head()
        self._append(self._resampler.drain())
        return self.position

    def pad_to(self, position: int) -> None:
        self._pad(position - self.position)

    def take_blocks(self) -> Blocks:
        blocks, self._blocks = self._blocks, []
        return blocks

    def _commit_head(self) -> None:
        head = self._pending[0]
        head_offset = self.position + head.samples.size + head.held_after - head.end
        correction = None
        # The whole lookahead matters only for a stretch's first chunk, or when the head itself
        # is off by more than the resync tolerance: otherwise not all of it can be off. That
        # skips a walk over the ~20 chunks within the lookahead for nearly every chunk.
        if self._observed == 0 or abs(head_offset) > self._samples(self._config.resync_tolerance):
            correction = self._resync_correction(self._lookahead_offsets())
        self._pending.popleft()
        if correction is None:
            correction = self._drift_correction(head)
        else:
            self.counters.resyncs += 1
            self._forget()  # a new stretch: what came before says nothing about it
        self._place(head, correction)
        self._remember(head_offset + correction)

    def _lookahead_offsets(self) -> list[float]:
        """Offsets (samples) of the head and of the chunks that arrived within the lookahead."""
        horizon = self._pending[0].arrival + self._config.lookahead
        position = self.position
        offsets: list[float] = []
        for chunk in self._pending:
            if chunk.arrival > horizon:
                break
            position += chunk.samples.size
            offsets.append(position + chunk.held_after - chunk.end)
        return offsets

    def _resync_correction(self, offsets: list[float]) -> int | None:
        """A jump to the lookahead's median offset when all of it is off (gap, late start)."""
        if self._observed == 0:  # first chunk of a stretch: place it where the clock says
            median = float(np.median(offsets))
            off = abs(median) > self._samples(self._config.drift_tolerance)
        else:
            tolerance = self._samples(self._config.resync_tolerance)
            off = max(offsets) < -tolerance or min(offsets) > tolerance
            median = float(np.median(offsets)) if off else 0.0
        return -round(median) if off else None

    def _drift_correction(self, head: _Chunk) -> int:
        """A small step against the recent median offset, hidden in a quiet chunk if possible."""
        if self._observed < self._config.min_observations:
            return 0
        drift = _middle(self._history[: self._observed])
        if abs(drift) <= self._samples(self._config.drift_tolerance):
            return 0
        if abs(drift) <= self._samples(self._config.urgent_drift) and not _is_quiet(head.samples):
            return 0
        limit = round(self._samples(self._config.max_step))
        step = int(np.clip(-round(drift), -limit, limit))
        self._history[: self._observed] += step  # the past offsets, as seen after this step
        self.counters.corrections += 1
        return step

    def _forget(self) -> None:
        self._observed = 0
        self._next = 0

    def _remember(self, offset: float) -> None:
        self._history[self._next] = offset
        self._next = (self._next + 1) % self._history.size
        self._observed = min(self._observed + 1, self._history.size)

    def _place(self, chunk: _Chunk, correction: int) -> None:
        # The resampler's first output still belongs to the previous chunk: keep it before
        # the correction, so a gap's silence lands exactly between the two stretches.
        split = min(chunk.held_before, chunk.samples.size) if correction else 0
        self._append(chunk.samples[:split])
        if correction > 0:
            self._pad(correction)
        elif correction < 0:
            self._debt -= correction
        self._append(chunk.samples[split:])

    def _append(self, samples: np.ndarray) -> None:
        drop = min(self._debt, samples.size)
        if drop:
            self._debt -= drop
            self.counters.trimmed += drop
            samples = samples[drop:]
        if samples.size:
            self._blocks.append(samples)
            self._length += samples.size

    def _pad(self, count: int) -> None:
        cancelled = min(self._debt, max(count, 0))  # silence owed against a pending trim
        self._debt -= cancelled
        count -= cancelled
        if count <= 0:
            return
        last = self._blocks[-1] if self._blocks else None
        if isinstance(last, int):
            self._blocks[-1] = last + count  # coalesce silence (idle fill adds ~20 ms a call)
        else:
            self._blocks.append(count)
        self._length += count
        self.counters.padded += count

    def _fill_idle(self, now: float) -> None:
        target = round((now - self._config.idle_hold) * self.rate)
        if target <= self.position:
            return
        self._append(self._resampler.drain())  # the last chunk's tail precedes the silence
        self._pad(target - self.position)
        self._forget()


def _middle(values: np.ndarray) -> float:
    """The median (upper, for an even count), without np.median's overhead: it runs per chunk."""
    return float(np.partition(values, values.size // 2)[values.size // 2])


def _is_quiet(samples: np.ndarray) -> bool:
    return samples.size == 0 or (
        int(samples.max()) < QUIET_PEAK and int(samples.min()) > -QUIET_PEAK
    )
