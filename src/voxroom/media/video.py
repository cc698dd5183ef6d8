"""Video frames as numpy arrays: conversion to and from decoded WebRTC frames, sizes, rates.

Pure helpers, no I/O. Decoded WebRTC video arrives as I420 (`yuv420p`) `av.VideoFrame`s; an
agent asks for the layout its code wants:

- `"bgr24"`: (height, width, 3) uint8, OpenCV's order;
- `"rgb24"`: (height, width, 3) uint8, what most ML models and PIL expect;
- `"yuv420p"` (I420): (height * 3 // 2, width) uint8, the Y plane then U then V, as decoded.

Conversion and scaling happen in one libswscale pass (≈ 0.2–0.3 ms for 640×480 here), and only
for the frames an agent actually takes: stale frames are never converted.
"""

from __future__ import annotations

import fractions
import time
from collections import deque
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from av import VideoFrame

PixelFormat = Literal["bgr24", "rgb24", "yuv420p"]
PIXEL_FORMATS: tuple[str, ...] = get_args(PixelFormat)
VIDEO_CLOCK_RATE = 90_000  # RTP video clock: pts of outbound frames count in these ticks
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)


@dataclass(frozen=True, slots=True)
class VideoImage:
    """One camera frame as the agent receives it.

    `index` counts the frames the transport received from this camera (1, 2, …); a gap
    between two images an agent took is the number of stale frames it skipped.
    `received_at` is `time.monotonic()` when the decoded frame reached the transport.
    """

    array: np.ndarray
    format: PixelFormat
    width: int
    height: int
    index: int
    received_at: float


def check_format(format: str) -> PixelFormat:
    if format not in PIXEL_FORMATS:
        raise ValueError(f"pixel format must be one of {', '.join(PIXEL_FORMATS)}, not {format!r}")
    return format  # type: ignore[return-value]


def _even(value: float) -> int:
    # I420 needs even sides (chroma is subsampled 2×2); we keep every format even for one rule.
    return max(2, round(value / 2) * 2)


def fit_size(
    source_width: int, source_height: int, width: int | None, height: int | None
) -> tuple[int, int]:
    """The output size for a request: both sides given → exactly that (rounded to even); one
    side → the other follows the source's aspect ratio; neither → the source size."""
    if (width is not None and width <= 0) or (height is not None and height <= 0):
        raise ValueError(f"video size must be positive, got {width}×{height}")
    if width is None and height is None:
        return source_width, source_height
    if width is None:
        assert height is not None
        return _even(source_width * height / source_height), _even(height)
    if height is None:
        return _even(width), _even(source_height * width / source_width)
    return _even(width), _even(height)


def frame_to_array(
    frame: VideoFrame,
    format: PixelFormat = "bgr24",
    width: int | None = None,
    height: int | None = None,
) -> np.ndarray:
    """A decoded frame as a new uint8 array in `format`, scaled to the requested size."""
    out_w, out_h = fit_size(frame.width, frame.height, width, height)
    if (out_w, out_h) == (frame.width, frame.height) and frame.format.name == format:
        return frame.to_ndarray()  # already I420 at that size: a plain copy of the planes
    return frame.to_ndarray(format=format, width=out_w, height=out_h)


def array_to_frame(array: np.ndarray, format: PixelFormat = "bgr24") -> VideoFrame:
    """An image the agent made → a frame for the encoder (which converts to I420 itself)."""
    check_format(format)
    if array.dtype != np.uint8:
        raise ValueError(f"video arrays must be uint8, got {array.dtype}")
    if format == "yuv420p":
        if array.ndim != 2 or array.shape[0] % 3 or array.shape[1] % 2:
            raise ValueError(f"I420 arrays are (height * 3 // 2, width), got {array.shape}")
    elif array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"{format} arrays are (height, width, 3), got {array.shape}")
    return VideoFrame.from_ndarray(np.ascontiguousarray(array), format=format)


def to_bgr(array: np.ndarray, format: PixelFormat) -> np.ndarray:
    """Any of our formats → BGR (for drawing or JPEG encoding with OpenCV-style code)."""
    if format == "bgr24":
        return array
    if format == "rgb24":
        return np.ascontiguousarray(array[:, :, ::-1])
    result: np.ndarray = array_to_frame(array, "yuv420p").to_ndarray(format="bgr24")
    return result


class RateMeter:
    """Events per second over a sliding window (processed fps, sent fps)."""

    def __init__(self, window_s: float = 2.0) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque()
        self.count = 0

    def tick(self, at: float | None = None) -> None:
        now = time.monotonic() if at is None else at
        self.count += 1
        self._times.append(now)
        while self._times and self._times[0] < now - self.window_s:
            self._times.popleft()

    def rate(self, now: float | None = None) -> float:
        """Events per second in the last window (0 until two events; decays when they stop)."""
        now = time.monotonic() if now is None else now
        recent = [t for t in self._times if t >= now - self.window_s]
        if len(recent) < 2:
            return 0.0
        # The span up to now, not just between the events: a stalled consumer reads as slow.
        span = max(now - recent[0], recent[-1] - recent[0])
        return (len(recent) - 1) / span if span > 0 else 0.0


@dataclass(frozen=True, slots=True)
class VideoInStats:
    """What one frame reader did: frames the camera sent while it read, what it took, fps."""

    received_frames: int
    processed_frames: int
    dropped_frames: int
    processed_fps: float

    @property
    def dropped_pct(self) -> float:
        return 100.0 * self.dropped_frames / self.received_frames if self.received_frames else 0.0


@dataclass(frozen=True, slots=True)
class VideoOutStats:
    """What an outbound video track did with the frames an agent pushed."""

    pushed_frames: int
    sent_frames: int  # distinct pushed frames that went to the encoder
    replaced_frames: int  # pushed, then replaced by a newer one before the encoder took it
    repeated_frames: int  # the last frame sent again to keep the stream alive
    sent_fps: float
    # Pushed with `captured_at`: camera frame reaching the agent → its result sent (p50).
    delay_ms_p50: float | None
