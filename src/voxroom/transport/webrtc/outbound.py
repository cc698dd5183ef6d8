"""The agent's outbound voice: a paced 48 kHz track that can be cleared mid-sentence."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import math
import time
from collections import deque
from typing import NamedTuple

import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame

from voxroom.media.audio import resample
from voxroom.transport.base import AudioObserver, AudioSink, Marker

WIRE_RATE = 48000
FRAME_SAMPLES = 960  # 20 ms
FRAME_S = FRAME_SAMPLES / WIRE_RATE
_TIME_BASE = fractions.Fraction(1, WIRE_RATE)


class PacedChunk(NamedTuple):
    pts: int  # in 1/48000 s since the track started
    samples: np.ndarray  # FRAME_SAMPLES of mono int16
    silent: bool  # nothing was queued: all zeros


class PacedAudioTrack(MediaStreamTrack, AudioSink):
    """Plays queued audio in real time; sends silence when idle so the stream stays steady.

    Clearing drops the queue at once: the next 20 ms frame is silence, which is what makes
    barge-in fast. Markers fire when playout reaches them, so the engine knows what the user
    actually heard (captions as spoken, interrupted replies cut at the right word).
    """

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queue: deque[np.ndarray | Marker] = deque()
        self._queued_samples = 0
        self._played_samples = 0
        self._start: float | None = None
        self._timestamp = 0
        self._observers: list[AudioObserver] = []
        self._paused = False
        self._playable = asyncio.Event()  # set when there may be something to play again

    # --- AudioSink -------------------------------------------------------------------------
    def push(self, samples: np.ndarray, sample_rate: int) -> None:
        wire = resample(np.asarray(samples, dtype=np.int16), sample_rate, WIRE_RATE)
        if wire.size:
            self._queue.append(wire)
            self._queued_samples += wire.size
            self._playable.set()

    def mark(self, on_played: Marker) -> None:
        self._queue.append(on_played)
        self._playable.set()

    def clear(self) -> float:
        dropped = self._queued_samples / WIRE_RATE
        self._queue.clear()
        self._queued_samples = 0
        self._paused = False
        return dropped

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        self._playable.set()

    @property
    def queued_seconds(self) -> float:
        return self._queued_samples / WIRE_RATE

    @property
    def played_seconds(self) -> float:
        return self._played_samples / WIRE_RATE

    def observe(self, observer: AudioObserver) -> None:
        self._observers.append(observer)

    # --- MediaStreamTrack ------------------------------------------------------------------
    def _next_samples(self) -> np.ndarray:
        """Take one frame's worth from the queue, firing markers passed on the way."""
        out = np.empty(FRAME_SAMPLES, dtype=np.int16)
        filled = 0
        while filled < FRAME_SAMPLES and self._queue and not self._paused:
            head = self._queue[0]
            if not isinstance(head, np.ndarray):
                self._queue.popleft()
                asyncio.get_running_loop().call_soon(head)
                continue
            take = min(FRAME_SAMPLES - filled, head.size)
            out[filled : filled + take] = head[:take]
            filled += take
            if take == head.size:
                self._queue.popleft()
            else:
                self._queue[0] = head[take:]
        self._queued_samples -= filled
        self._played_samples += filled
        # Fire markers that now sit at the head: their audio has just been sent in full.
        while self._queue and not self._paused and not isinstance(self._queue[0], np.ndarray):
            marker = self._queue.popleft()
            assert not isinstance(marker, np.ndarray)
            asyncio.get_running_loop().call_soon(marker)
        out[filled:] = 0
        return out

    async def next_chunk(self) -> PacedChunk:
        """The next 20 ms of audio, when it is due (what `recv` and encoders build on)."""
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._timestamp += FRAME_SAMPLES
            delay = self._slot_time() - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        played_before = self._played_samples
        samples = self._next_samples()
        silent = self._played_samples == played_before
        if not silent:  # idle silence is not reported (see `AudioSink.observe`)
            for observer in self._observers:
                observer(samples, WIRE_RATE)
        return PacedChunk(self._timestamp, samples, silent)

    def _slot_time(self) -> float:
        """When the current frame is due (monotonic seconds)."""
        assert self._start is not None
        return self._start + self._timestamp / WIRE_RATE

    async def skip_idle(self, max_frames: int) -> None:
        """Let up to `max_frames` frames of idle silence pass unsent (DTX): return as soon
        as there is audio or a marker to play, with the frame clock moved past the frames
        skipped, so the next `next_chunk` is the next frame slot from now."""
        if self._start is None or (self._queue and not self._paused):
            return
        self._playable.clear()
        last_slot = self._slot_time()
        wait_s = max(0.0, last_slot + max_frames * FRAME_S - time.monotonic())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_s):
                await self._playable.wait()
        skipped = math.floor((time.monotonic() - last_slot) / FRAME_S)
        self._timestamp += max(0, skipped) * FRAME_SAMPLES

    def stop(self) -> None:
        super().stop()
        self._playable.set()

    async def recv(self) -> AudioFrame:
        chunk = await self.next_chunk()
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(chunk.samples.tobytes())
        frame.sample_rate = WIRE_RATE
        frame.pts = chunk.pts
        frame.time_base = _TIME_BASE
        return frame
