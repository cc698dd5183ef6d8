"""One aiortc peer connection as a voxroom Transport (offer in, answer out, no trickle): the
one-participant call. The peer is reported as joined at once (its audio may come a moment
later) and as left when the connection closes, which ends the call.

Video: the first video m-line of an offer is answered sendrecv with the agent's
`PacedVideoTrack` attached (it sends nothing until the agent pushes a frame, so voice-only
agents pay no encoding); further video m-lines are refused (inactive). The camera's decoded
frames are drained as they arrive into `video_in` (latest-frame semantics): aiortc queues
decoded frames without bound, so they must be taken even when no agent reads them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Collection
from typing import Any

import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCDataChannel,
    RTCPeerConnection,
    RTCSessionDescription,
)

from voxroom.config import TransportConfig
from voxroom.transport.base import (
    MessageHandler,
    ParticipantEvent,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantLeft,
    RemoteParticipant,
    Transport,
)
from voxroom.transport.video import VideoSource
from voxroom.transport.webrtc.configuration import rtc_configuration
from voxroom.transport.webrtc.inbound import InboundAudio
from voxroom.transport.webrtc.messages import (
    DATA_CHANNEL_LABEL,
    BadMessage,
    parse_message,
)
from voxroom.transport.webrtc.opus import OpusSenderTrack
from voxroom.transport.webrtc.outbound import PacedAudioTrack
from voxroom.transport.webrtc.video import PacedVideoTrack, drain_video

log = logging.getLogger(__name__)

MAX_PENDING_MESSAGES = 64


class OfferError(ValueError):
    """The client's SDP offer cannot be used; the message says why (sent back as a 400)."""


class PeerParticipant(RemoteParticipant):
    """The peer: its identity comes from the token its offer was posted with."""

    def __init__(self, info: ParticipantInfo) -> None:
        self.info = info
        self.audio = InboundAudio()
        self.video_in: VideoSource = VideoSource()

    def inbound_audio(self) -> AsyncIterator[np.ndarray]:
        return self.audio.chunks()


class P2PTransport(Transport):
    def __init__(self, config: TransportConfig, peer: ParticipantInfo | None = None) -> None:
        self.pc = RTCPeerConnection(rtc_configuration(config))
        self.peer = PeerParticipant(peer or ParticipantInfo("user"))
        self.audio_out: PacedAudioTrack = PacedAudioTrack()
        self.video_out: PacedVideoTrack = PacedVideoTrack()
        self._video_task: asyncio.Task[None] | None = None
        self._connect_timeout_s = config.connect_timeout_s
        self._dtx = config.dtx
        self._connect_deadline: asyncio.Task[None] | None = None
        self._channel: RTCDataChannel | None = None
        self._pending: list[dict[str, Any]] = []
        self._handler: MessageHandler | None = None
        self.closed = asyncio.Event()
        self.pc.on("track", self._on_track)
        self.pc.on("datachannel", self._on_datachannel)
        self.pc.on("connectionstatechange", self._on_connection_state)

    async def accept(self, offer_sdp: str) -> str:
        """Apply the client's offer and return our answer SDP (candidates included)."""
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except Exception as exc:  # aiortc raises ValueError/KeyError/... on bad SDP
            raise OfferError(f"offer rejected: {str(exc) or type(exc).__name__}") from exc
        audio = [t for t in self.pc.getTransceivers() if t.kind == "audio"]
        if not audio:
            raise OfferError("offer has no audio m-line")
        audio[0].sender.replaceTrack(OpusSenderTrack(self.audio_out, dtx=self._dtx))
        audio[0].direction = "sendrecv"
        for index, video in enumerate(t for t in self.pc.getTransceivers() if t.kind == "video"):
            if index == 0:
                video.sender.replaceTrack(self.video_out)
                video.direction = "sendrecv"
            else:  # one camera per participant: extra video is neither received nor decoded
                video.direction = "inactive"
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self._connect_deadline = asyncio.ensure_future(self._enforce_connect_deadline())
        return str(self.pc.localDescription.sdp)

    async def _enforce_connect_deadline(self) -> None:
        # aioice's controlled side waits for a nomination without end and consent checks only
        # start once connected, so nothing else ever notices an offer that was abandoned.
        await asyncio.sleep(self._connect_timeout_s)
        if self.pc.connectionState != "connected" and not self.closed.is_set():
            log.info("peer did not connect within %.0f s: closing", self._connect_timeout_s)
            await self.close()

    # --- events ----------------------------------------------------------------------------
    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self.peer.audio.attach(track)
        elif track.kind == "video" and self._video_task is None:
            self._video_task = asyncio.ensure_future(drain_video(track, self.peer.video_in))

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label != DATA_CHANNEL_LABEL:
            return
        self._channel = channel
        channel.on("message", self._on_raw_message)
        if channel.readyState == "open":
            self._flush_pending()
        else:
            channel.on("open", self._flush_pending)

    def _flush_pending(self) -> None:
        pending, self._pending = self._pending, []
        for message in pending:
            self.send(message)

    def _on_raw_message(self, raw: str | bytes) -> None:
        if self._handler is None:
            return
        try:
            message = parse_message(raw)
        except BadMessage as exc:
            self.send({"type": "error", "message": str(exc)})
            return
        try:
            self._handler(self.peer.info.identity, message)
        except Exception:  # never let a handler bug reach aiortc's receive loop
            log.exception("data channel handler failed")

    async def _on_connection_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            await self.close()

    # --- Transport -------------------------------------------------------------------------
    async def participants(self) -> AsyncIterator[ParticipantEvent]:
        if self.closed.is_set():
            return
        yield ParticipantJoined(self.peer)
        await self.closed.wait()
        yield ParticipantLeft(self.peer.info.identity)

    @property
    def inbound_backlog_frames(self) -> int:
        """Decoded inbound audio frames the session has not taken yet (see InboundAudio)."""
        return self.peer.audio.backlog_frames

    def send(self, message: dict[str, Any], to: Collection[str] | None = None) -> None:
        if to is not None and self.peer.info.identity not in to:
            return
        if self._channel is not None and self._channel.readyState == "open":
            self._channel.send(json.dumps(message))
        elif len(self._pending) < MAX_PENDING_MESSAGES:  # before the channel opens: keep them
            self._pending.append(message)

    def on_message(self, handler: MessageHandler) -> None:
        self._handler = handler

    async def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        deadline = self._connect_deadline
        if deadline is not None and deadline is not asyncio.current_task():
            deadline.cancel()
        self.audio_out.stop()
        self.video_out.stop()
        self.peer.audio.end()
        if self._video_task is not None:
            self._video_task.cancel()
            await asyncio.gather(self._video_task, return_exceptions=True)
        self.peer.video_in.end()
        await self.pc.close()
