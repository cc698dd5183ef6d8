"""The transport protocol the agent engine talks to, whatever carries the media.

A session sees inbound audio as mono int16 chunks at 16 kHz, an outbound `AudioSink` it can
clear instantly (barge-in), and JSON data messages both ways. Transports that carry video also
offer the participant's camera (`video_in`, latest-frame semantics) and an outbound `VideoSink`
(`video_out`); both are None where a transport has no video.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from voxroom.media.video import PixelFormat, VideoOutStats

if TYPE_CHECKING:
    from voxroom.transport.video import VideoSource

INBOUND_SAMPLE_RATE = 16000

Marker = Callable[[], None]
MessageHandler = Callable[[dict[str, Any]], None]
AudioObserver = Callable[[np.ndarray, int], None]  # (mono int16 samples, sample rate)


class AudioSink(ABC):
    """Outbound audio, played out in real time in 20 ms frames."""

    @abstractmethod
    def push(self, samples: np.ndarray, sample_rate: int) -> None:
        """Queue mono int16 audio for playout (any rate; resampled to the wire rate)."""

    @abstractmethod
    def mark(self, on_played: Marker) -> None:
        """Call `on_played` on the loop when playout reaches this point of the queue."""

    @abstractmethod
    def clear(self) -> float:
        """Drop everything queued (markers included); return the seconds of audio dropped."""

    @abstractmethod
    def pause(self) -> None:
        """Send silence from the next frame on, keeping the queue (a possible interruption)."""

    @abstractmethod
    def resume(self) -> None:
        """Continue playout where it paused (the interruption was a noise or a backchannel)."""

    @property
    @abstractmethod
    def queued_seconds(self) -> float: ...

    @property
    @abstractmethod
    def played_seconds(self) -> float:
        """Seconds of real (non-filler) audio played out since the session started."""

    @abstractmethod
    def observe(self, observer: AudioObserver) -> None:
        """Call `observer` with every frame of queued audio as it is sent, e.g. to record.

        Idle frames (nothing queued) are not reported: an observer places audio by the
        time it is called, as the recorder does, so a gap is the agent's silence."""


class VideoSink(ABC):
    """Outbound video from frames an agent produces at any rate; the sink paces them.

    The newest pushed frame wins: frames pushed faster than the sink sends are replaced (and
    counted), so pushing never blocks and never builds a queue. The sink keeps a reference to
    the array until it is sent: push a new array each time rather than reusing one buffer.
    """

    @abstractmethod
    def push(
        self, image: np.ndarray, format: PixelFormat = "bgr24", *, captured_at: float | None = None
    ) -> None:
        """Publish `image` (uint8, see `media.video` for layouts). `captured_at`: the
        `received_at` of the camera frame it was made from, to measure the agent's delay."""

    @property
    @abstractmethod
    def stats(self) -> VideoOutStats: ...


class Transport(ABC):
    audio_out: AudioSink
    # The participant's camera and the agent's own video; None where a transport has no video.
    video_in: VideoSource | None = None
    video_out: VideoSink | None = None

    @abstractmethod
    def inbound_audio(self) -> AsyncIterator[np.ndarray]:
        """Mono int16 chunks at INBOUND_SAMPLE_RATE, in arrival order, until the peer leaves."""

    @abstractmethod
    def send(self, message: dict[str, Any]) -> None:
        """Send a JSON message to the client (held until its channel opens)."""

    @abstractmethod
    def on_message(self, handler: MessageHandler) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...
