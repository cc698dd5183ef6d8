"""A remote aiortc audio track as the engine hears it: mono int16 chunks at 16 kHz.

Gaps in the sender's RTP timestamps (DTX from a peer that uses it, lost packets) are played
to the session as silence, so turn-taking hears the pause it would have heard: up to 2 s,
more than any end-of-turn decision waits; a longer gap is not replayed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame
from av.frame import Frame

from voxroom.media.audio import StreamResampler, frame_to_mono
from voxroom.transport.base import INBOUND_SAMPLE_RATE

MAX_FILLED_GAP_S = 2.0


class InboundAudio:
    """Decodes one participant's audio track; the track may arrive after the reader starts."""

    def __init__(self) -> None:
        self._tracks: asyncio.Queue[MediaStreamTrack | None] = asyncio.Queue()
        self._track: MediaStreamTrack | None = None
        self._ended = False

    def attach(self, track: MediaStreamTrack) -> None:
        """The participant's audio track (aiortc's `track` event)."""
        self._tracks.put_nowait(track)

    async def chunks(self) -> AsyncIterator[np.ndarray]:
        """Mono int16 chunks at INBOUND_SAMPLE_RATE until the track ends or `end()`."""
        track = await self._tracks.get()
        if track is None or self._ended:
            return
        self._track = track
        resampler: StreamResampler | None = None
        next_pts: int | None = None
        # A plain await per frame: `end` wakes it. Racing each receive against an "ended"
        # event cost a task and a wait per 20 ms frame.
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if not isinstance(frame, AudioFrame):
                continue
            if resampler is None or resampler.in_rate != frame.sample_rate:
                resampler = StreamResampler(frame.sample_rate, INBOUND_SAMPLE_RATE)
            if frame.pts is not None:  # aiortc: the RTP timestamp, in samples of this rate
                if next_pts is not None:
                    gap = (frame.pts - next_pts) % 2**32  # RTP timestamps wrap
                    if 0 < gap <= MAX_FILLED_GAP_S * frame.sample_rate:
                        yield np.zeros(gap * INBOUND_SAMPLE_RATE // frame.sample_rate, np.int16)
                next_pts = (frame.pts + frame.samples) % 2**32
            yield resampler.process(frame_to_mono(frame))

    def end(self) -> None:
        """Wake a receive that waits on a peer that never sent audio: aiortc ends its track's
        queue only once its receiver has decoded something, so the end-of-track None is ours."""
        self._ended = True
        self._tracks.put_nowait(None)
        queue = self._decoded_queue()
        if queue is not None:
            queue.put_nowait(None)

    def _decoded_queue(self) -> asyncio.Queue[Frame | None] | None:
        """aiortc's RemoteStreamTrack queue of decoded inbound frames (private in aiortc)."""
        queue = getattr(self._track, "_queue", None)
        return queue if isinstance(queue, asyncio.Queue) else None

    @property
    def backlog_frames(self) -> int:
        """Decoded frames not yet taken by the session: > a few means it falls behind real
        time (aiortc's track queue is unbounded, so the lag shows here first)."""
        queue = self._decoded_queue()
        return queue.qsize() if queue is not None else 0
