"""The transport protocol the agent engine talks to, whatever carries the media.

A session sees participants join and leave, each with inbound audio as mono int16 chunks at
16 kHz (and their camera, latest-frame semantics, where there is video); one outbound
`AudioSink` it can clear instantly (barge-in); an outbound `VideoSink` where there is video;
and JSON data messages both ways, each incoming one tagged with its sender. Peer-to-peer
(one participant) and a Janus room (any number) are the same protocol.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from voxroom.media.video import PixelFormat, VideoOutStats

if TYPE_CHECKING:
    from voxroom.transport.video import VideoSource

INBOUND_SAMPLE_RATE = 16000

Marker = Callable[[], None]
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


@dataclass(frozen=True, slots=True)
class ParticipantInfo:
    """Who a remote participant is. `identity` is unique among a session's live participants
    (the token's subject; a transport disambiguates two joins of one identity); `name` is
    what people see ("" → the identity); `role` is the application's ("user" by default;
    e.g. "customer" / "agent" for an agent-assist call); `language` their spoken language
    when known (None: the configured default)."""

    identity: str
    name: str = ""
    role: str = "user"
    language: str | None = None

    @property
    def display_name(self) -> str:
        return self.name or self.identity


class RemoteParticipant(ABC):
    """A person in the call, as a transport reports them: who, and their inbound media."""

    info: ParticipantInfo
    # Their camera (latest-frame semantics); None where the transport or they send no video.
    video_in: VideoSource | None = None

    @abstractmethod
    def inbound_audio(self) -> AsyncIterator[np.ndarray]:
        """Their voice as mono int16 chunks at INBOUND_SAMPLE_RATE, in arrival order, until
        they leave (or stop publishing). Called once. A gap in their stream (DTX, loss) is
        delivered as silence of the same length, so turn-taking hears the pause."""


@dataclass(frozen=True, slots=True)
class ParticipantJoined:
    participant: RemoteParticipant


@dataclass(frozen=True, slots=True)
class ParticipantLeft:
    identity: str


ParticipantEvent = ParticipantJoined | ParticipantLeft
# (sender identity, message): who sent a data message is known to the transport, not claimed.
MessageHandler = Callable[[str, dict[str, Any]], None]


class Transport(ABC):
    """How a session's media and messages enter and leave, whoever is in the call.

    One outbound voice (the agent speaks to everyone), inbound media per participant, data
    messages both ways. A peer-to-peer call is the one-participant case: it reports one join,
    and the call ends when that peer leaves."""

    audio_out: AudioSink
    # The agent's own video; None where a transport has no video.
    video_out: VideoSink | None = None
    # Several people share the call: captions name speakers and the model sees who spoke.
    multiparty: bool = False

    @abstractmethod
    def participants(self) -> AsyncIterator[ParticipantEvent]:
        """Joins and leaves in the order they happen (a participant's join comes before
        anything they send), until the call ends for the agent: then the iterator stops."""

    @abstractmethod
    def send(self, message: dict[str, Any], to: Collection[str] | None = None) -> None:
        """Send a JSON message to every participant, or with `to` only to those identities
        (nobody else receives it: a copilot's suggestions to the human agent). Held until
        the channel opens."""

    @abstractmethod
    def on_message(self, handler: MessageHandler) -> None:
        """Call `handler(sender identity, message)` for each JSON message a participant sends."""

    @property
    def inbound_backlog_frames(self) -> int:
        """Decoded inbound audio frames (20 ms) the session has not taken yet, the most of
        any participant: more than a few means it falls behind real time (0: not measured)."""
        return 0

    @abstractmethod
    async def close(self) -> None:
        """Leave the call; `participants()` then ends."""
