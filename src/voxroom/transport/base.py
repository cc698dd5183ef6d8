"""The transport protocol the agent engine talks to, whatever carries the media.

A session sees inbound audio as mono int16 chunks at 16 kHz, an outbound `AudioSink` it can
clear instantly (barge-in), and JSON data messages both ways.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np

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

    @property
    @abstractmethod
    def queued_seconds(self) -> float: ...

    @property
    @abstractmethod
    def played_seconds(self) -> float:
        """Seconds of real (non-filler) audio played out since the session started."""

    @abstractmethod
    def observe(self, observer: AudioObserver) -> None:
        """Call `observer` with every frame as it is sent (silence included), e.g. to record."""


class Transport(ABC):
    audio_out: AudioSink

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
