"""A participant's camera with latest-frame semantics, for any transport.

The transport puts every decoded frame in (`put`, never blocking: it only replaces a reference);
readers take the newest frame whenever they are ready. A reader slower than the camera skips
the frames that arrived while it was busy, and counts them, so a slow detector always works
on the present instead of falling further behind a queue, and the media path never waits on it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from av import VideoFrame

from voxroom.media.video import (
    PixelFormat,
    RateMeter,
    VideoImage,
    VideoInStats,
    VideoOutStats,
    check_format,
    frame_to_array,
)


class VideoSource:
    """The newest decoded frame of one remote camera, and a wake-up for readers waiting on it."""

    def __init__(self) -> None:
        self._frame: VideoFrame | None = None
        self._index = 0  # frames put so far; the held frame is number `_index`
        self._received_at = 0.0
        self._changed = asyncio.Event()
        self._ended = False

    # --- transport side ----------------------------------------------------------------------
    def put(self, frame: VideoFrame, received_at: float | None = None) -> None:
        """Make `frame` the newest (the previous one, if nobody took it, is simply dropped)."""
        if self._ended:
            return
        self._frame = frame
        self._index += 1
        self._received_at = time.monotonic() if received_at is None else received_at
        self._wake()

    def end(self) -> None:
        """The camera is gone (peer left): readers finish once they have taken what is left."""
        self._ended = True
        self._wake()

    def _wake(self) -> None:
        # Waiters hold the old event; a fresh one is ready for the next wait.
        self._changed.set()
        self._changed = asyncio.Event()

    # --- agent side --------------------------------------------------------------------------
    @property
    def received_frames(self) -> int:
        return self._index

    @property
    def frame_size(self) -> tuple[int, int] | None:
        """(width, height) of the newest frame as decoded; None before the first."""
        return None if self._frame is None else (self._frame.width, self._frame.height)

    @property
    def ended(self) -> bool:
        return self._ended

    def latest(
        self, format: PixelFormat = "rgb24", width: int | None = None, height: int | None = None
    ) -> VideoImage | None:
        """The newest frame now, without waiting (None before the first one): for snapshots
        such as attaching what the camera shows to an LLM request."""
        if self._frame is None:
            return None
        return self.image(check_format(format), width, height)

    def frames(
        self, format: PixelFormat = "bgr24", width: int | None = None, height: int | None = None
    ) -> VideoReader:
        """Iterate over the newest frames at the reader's own pace (see `VideoReader`)."""
        return VideoReader(self, check_format(format), width, height)

    async def wait_newer(self, than: int) -> bool:
        """Wait for a frame newer than number `than`; False once the camera ended first."""
        while self._index <= than:
            if self._ended:
                return False
            await self._changed.wait()
        return True

    def image(self, format: PixelFormat, width: int | None, height: int | None) -> VideoImage:
        """The held frame converted (the caller checked there is one)."""
        frame = self._frame
        assert frame is not None
        array = frame_to_array(frame, format, width, height)
        rows, cols = array.shape[:2]
        return VideoImage(
            array=array,
            format=format,
            width=cols,
            height=rows * 2 // 3 if format == "yuv420p" else rows,
            index=self._index,
            received_at=self._received_at,
        )


class VideoReader(AsyncIterator[VideoImage]):
    """`async for image in source.frames("bgr24", width=640): ...` — each step waits for a
    frame newer than the last one taken and converts only that one. Its `stats` count what the
    camera sent since the reader started, what it processed and what it skipped."""

    def __init__(
        self, source: VideoSource, format: PixelFormat, width: int | None, height: int | None
    ) -> None:
        self._source = source
        self._format: PixelFormat = format
        self._size = (width, height)
        # A frame already held when the reader starts is its first, not a dropped one.
        self._start = max(0, source.received_frames - 1)
        self._last = self._start
        self._dropped = 0
        self._meter = RateMeter()

    def __aiter__(self) -> VideoReader:
        return self

    async def __anext__(self) -> VideoImage:
        if not await self._source.wait_newer(self._last):
            raise StopAsyncIteration
        image = self._source.image(self._format, *self._size)
        self._dropped += image.index - self._last - 1
        self._last = image.index
        self._meter.tick()
        return image

    @property
    def stats(self) -> VideoInStats:
        return VideoInStats(
            received_frames=self._source.received_frames - self._start,
            processed_frames=self._meter.count,
            dropped_frames=self._dropped,
            processed_fps=round(self._meter.rate(), 2),
        )


def video_stats_message(inbound: VideoInStats, outbound: VideoOutStats | None) -> dict[str, Any]:
    """The `video_stats` data-channel message (docs/protocol.md) for a video pipeline."""
    message: dict[str, Any] = {
        "type": "video_stats",
        "received_frames": inbound.received_frames,
        "processed_frames": inbound.processed_frames,
        "dropped_frames": inbound.dropped_frames,
        "dropped_pct": round(inbound.dropped_pct, 1),
        "processed_fps": inbound.processed_fps,
    }
    if outbound is not None:
        message |= {
            "published_frames": outbound.sent_frames,
            "published_fps": outbound.sent_fps,
            "agent_delay_ms": outbound.delay_ms_p50,
        }
    return message
