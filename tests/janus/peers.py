"""Real aiortc peers for the Janus tests: a publisher sending a tone and data-channel
messages, and a subscriber that decodes what Janus relays (candidates on 127.0.0.2)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar

import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame

from voxroom.transport.janus.videoroom import VideoRoomPublisher, VideoRoomSubscriber
from voxroom.transport.webrtc.opus import OpusSenderTrack
from voxroom.transport.webrtc.outbound import WIRE_RATE, PacedAudioTrack

TONE_AMPLITUDE = 8000
CONNECT_TIMEOUT_S = 5.0

T = TypeVar("T")


def tone(seconds: float, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * WIRE_RATE)) / WIRE_RATE
    return (np.sin(2 * np.pi * hz * t) * TONE_AMPLITUDE).astype(np.int16)


async def connected(pc: RTCPeerConnection) -> None:
    async with asyncio.timeout(CONNECT_TIMEOUT_S):
        while pc.connectionState != "connected":
            if pc.connectionState == "failed":
                raise AssertionError("the PeerConnection to Janus failed")
            await asyncio.sleep(0.02)


async def next_of(events: AsyncIterator[object], kind: type[T], timeout_s: float = 5.0) -> T:
    """The next event of type `kind` (others are skipped)."""
    async with asyncio.timeout(timeout_s):
        async for event in events:
            if isinstance(event, kind):
                return event
    raise AssertionError(f"the events ended before a {kind.__name__}")


class TonePublisher:
    """An aiortc peer publishing paced Opus audio and a data channel through Janus."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.audio = PacedAudioTrack()
        self.pc.addTransceiver(OpusSenderTrack(self.audio), direction="sendonly")
        self.channel: RTCDataChannel = self.pc.createDataChannel("voxroom")

    async def publish(self, publisher: VideoRoomPublisher) -> None:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        answer = await publisher.publish(self.pc.localDescription.sdp)
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await connected(self.pc)

    async def close(self) -> None:
        await self.pc.close()


class Receiver:
    """An aiortc peer answering a VideoRoom subscription: decoded audio and messages."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.frames: list[np.ndarray] = []
        self.messages: list[str | bytes] = []
        self.channel_labels: list[str] = []
        self._frame_arrived = asyncio.Event()
        self.message_arrived = asyncio.Event()
        self._readers: list[asyncio.Task[None]] = []
        self.pc.on("track", self._on_track)
        self.pc.on("datachannel", self._on_datachannel)

    async def subscribe(self, subscriber: VideoRoomSubscriber, offer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        # Janus relays data to a subscriber only once a channel is open on its association
        # (janus.js opens one too): without this, no message ever arrives.
        self.pc.createDataChannel("subscriber")
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        await subscriber.start(self.pc.localDescription.sdp)
        await connected(self.pc)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._readers.append(asyncio.ensure_future(self._read(track)))

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if isinstance(frame, AudioFrame):
                self.frames.append(frame.to_ndarray())
                self._frame_arrived.set()

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        self.channel_labels.append(channel.label)

        @channel.on("message")
        def on_message(message: str | bytes) -> None:
            self.messages.append(message)
            self.message_arrived.set()

    def loud_frames(self, threshold: float = TONE_AMPLITUDE / 4) -> int:
        """Frames whose RMS shows the tone (not silence, not concealment)."""
        return sum(
            1 for f in self.frames if np.sqrt(np.mean(f.astype(np.float64) ** 2)) > threshold
        )

    async def loud(self, frames: int) -> None:
        """Wait until `frames` decoded frames carry the tone."""
        while self.loud_frames() < frames:
            self._frame_arrived.clear()
            await self._frame_arrived.wait()

    async def close(self) -> None:
        await self.pc.close()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
