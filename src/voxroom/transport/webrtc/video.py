"""The agent's outbound video: frames pushed at any rate, sent paced, newest first.

aiortc's sender asks the track for a frame, encodes it (in a worker thread) and asks again, so
the track decides the rate. This one hands over the newest pushed frame, at most `max_fps` per
second, stamped with the time it is sent (the RTP clock then matches real time whatever the
agent's rate). Before the first push it sends nothing, so a voice-only agent costs no encoding.
When the agent goes quiet the last frame is repeated every `keepalive_s`, which keeps the
receiver's picture and its decoder's reference state alive.

Receiving: aiortc's jitter buffer hands a video frame to the decoder only when the first packet
of the *next* frame arrives, which adds a whole frame interval per hop (67 ms at 15 fps, and up
to `keepalive_s` for the last frame before a pause). `MarkerJitterBuffer` releases a frame at
its last packet (RTP marker bit) instead; `tuning` installs it for every receiver.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import deque

import numpy as np
from aiortc import MediaStreamTrack
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtpPacket
from av import VideoFrame

from voxroom.media.video import (
    VIDEO_CLOCK_RATE,
    VIDEO_TIME_BASE,
    PixelFormat,
    RateMeter,
    VideoOutStats,
    array_to_frame,
    check_format,
)
from voxroom.transport.base import VideoSink
from voxroom.transport.video import VideoSource

DEFAULT_MAX_FPS = 30.0
DEFAULT_KEEPALIVE_S = 1.0
_DELAY_SAMPLES = 120


class PacedVideoTrack(MediaStreamTrack, VideoSink):
    kind = "video"

    def __init__(
        self, max_fps: float = DEFAULT_MAX_FPS, keepalive_s: float = DEFAULT_KEEPALIVE_S
    ) -> None:
        super().__init__()
        self._min_interval = 1.0 / max_fps
        self._keepalive_s = keepalive_s
        # The newest pushed frame not yet sent: (array, format, captured_at). Converted only
        # when the encoder takes it, so replaced frames cost nothing.
        self._pending: tuple[np.ndarray, PixelFormat, float | None] | None = None
        self._pushed = asyncio.Event()
        self._last: VideoFrame | None = None
        self._last_sent_at = 0.0
        self._start: float | None = None
        self._last_pts = -1
        self._pushed_count = self._replaced = self._repeated = 0
        self._sent = RateMeter()
        self._delays: deque[float] = deque(maxlen=_DELAY_SAMPLES)

    # --- VideoSink ---------------------------------------------------------------------------
    def push(
        self, image: np.ndarray, format: PixelFormat = "bgr24", *, captured_at: float | None = None
    ) -> None:
        check_format(format)
        if self._pending is not None:
            self._replaced += 1
        self._pending = (image, format, captured_at)
        self._pushed_count += 1
        self._pushed.set()

    @property
    def stats(self) -> VideoOutStats:
        delays = list(self._delays)
        return VideoOutStats(
            pushed_frames=self._pushed_count,
            sent_frames=self._sent.count,
            replaced_frames=self._replaced,
            repeated_frames=self._repeated,
            sent_fps=round(self._sent.rate(), 2),
            delay_ms_p50=round(statistics.median(delays) * 1e3, 1) if delays else None,
        )

    def stop(self) -> None:
        super().stop()
        self._pushed.set()  # a recv() waiting for frames must notice the end

    # --- MediaStreamTrack --------------------------------------------------------------------
    async def recv(self) -> VideoFrame:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            if self._pending is not None:
                wait = self._last_sent_at + self._min_interval - time.monotonic()
                if wait > 0:  # over the rate cap: wait, then take whatever is newest by then
                    await asyncio.sleep(wait)
                    continue
                return self._stamp(self._take_pending())
            self._pushed.clear()
            timeout = None if self._last is None else self._keepalive_s
            try:
                await asyncio.wait_for(self._pushed.wait(), timeout)
            except TimeoutError:
                if self._last is not None and self._pending is None and self.readyState == "live":
                    self._repeated += 1
                    return self._stamp(self._last)

    def _take_pending(self) -> VideoFrame:
        assert self._pending is not None
        image, format, captured_at = self._pending
        self._pending = None
        frame = array_to_frame(image, format)
        now = time.monotonic()
        self._sent.tick(now)
        if captured_at is not None:
            self._delays.append(now - captured_at)
        self._last = frame
        return frame

    def _stamp(self, frame: VideoFrame) -> VideoFrame:
        # Real-time timestamps: the receiver plays frames at the pace they were produced.
        now = time.monotonic()
        if self._start is None:
            self._start = now
        pts = max(self._last_pts + 1, round((now - self._start) * VIDEO_CLOCK_RATE))
        self._last_pts = pts
        self._last_sent_at = now
        frame.pts = pts
        frame.time_base = VIDEO_TIME_BASE
        return frame


async def drain_video(track: MediaStreamTrack, into: VideoSource) -> None:
    """Move a remote camera's decoded frames into `into` as they arrive (newest wins), until
    the track ends: aiortc queues decoded frames without bound, so they must be taken even
    when no agent reads them."""
    try:
        while True:
            frame = await track.recv()
            if isinstance(frame, VideoFrame):
                into.put(frame)
    except MediaStreamError:
        pass
    finally:
        into.end()


class BorrowedVideoTrack(MediaStreamTrack):
    """A sender's view of a paced track that outlives the connection: aiortc stops a sender's
    track when its connection closes, and a transport that reconnects (Janus) sends the same
    video on the next one."""

    kind = "video"

    def __init__(self, source: PacedVideoTrack) -> None:
        super().__init__()
        self.source = source

    async def recv(self) -> VideoFrame:
        return await self.source.recv()


class MarkerJitterBuffer(JitterBuffer):
    """aiortc's jitter buffer, except that a video frame leaves as soon as it is complete: its
    packets are contiguous from the buffer's origin up to the one with the RTP marker bit (the
    sender sets it on a frame's last packet). Audio behaves exactly as in aiortc."""

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        if not self._is_video:
            return super()._remove_frame(sequence_number)
        packets: list[RtpPacket] = []
        assert self._origin is not None  # add() sets it before asking for a frame
        for count in range(self.capacity):
            packet = self._packets[(self._origin + count) % self.capacity]
            if packet is None:  # a gap: the frame at the origin is not complete yet
                return None
            if packets and packet.timestamp != packets[0].timestamp:
                # The next frame began without a marker on this one (lost marker packet):
                # release what we have, as aiortc would.
                return self._release(packets, count)
            packets.append(packet)
            if packet.marker:
                return self._release(packets, count + 1)
        return None

    def _release(self, packets: list[RtpPacket], count: int) -> JitterFrame:
        # `_data` is the depayloaded payload the receiver stores on each packet (aiortc's own
        # jitter buffer reads it the same way).
        data = b"".join(p._data for p in packets)  # type: ignore[attr-defined]
        self.remove(count)
        return JitterFrame(data=data, timestamp=packets[0].timestamp)
