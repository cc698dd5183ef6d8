"""One aiortc peer connection as a voxroom Transport (offer in, answer out, no trickle).

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
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame, VideoFrame
from av.frame import Frame

from voxroom.config import TransportConfig
from voxroom.media.audio import StreamResampler, frame_to_mono
from voxroom.transport.base import INBOUND_SAMPLE_RATE, MessageHandler, Transport
from voxroom.transport.video import VideoSource
from voxroom.transport.webrtc.opus import OpusSenderTrack
from voxroom.transport.webrtc.outbound import PacedAudioTrack
from voxroom.transport.webrtc.video import PacedVideoTrack

log = logging.getLogger(__name__)

DATA_CHANNEL_LABEL = "voxroom"
MAX_MESSAGE_BYTES = 16 * 1024
MAX_PENDING_MESSAGES = 64
# A gap in the inbound RTP timestamps (DTX from a peer that uses it, or lost packets) is
# played to the session as silence, so turn-taking sees the silence it would have heard.
# Up to 2 s: more than any end-of-turn decision waits; a longer gap is not replayed.
MAX_FILLED_GAP_S = 2.0


class OfferError(ValueError):
    """The client's SDP offer cannot be used; the message says why (sent back as a 400)."""


def rtc_configuration(config: TransportConfig) -> RTCConfiguration:
    # An explicit (possibly empty) list: aiortc otherwise adds a public STUN server.
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(urls=s.urls, username=s.username, credential=s.credential)
            for s in config.ice_servers
        ]
    )


class P2PTransport(Transport):
    def __init__(self, config: TransportConfig) -> None:
        self.pc = RTCPeerConnection(rtc_configuration(config))
        self.audio_out: PacedAudioTrack = PacedAudioTrack()
        self.video_in: VideoSource = VideoSource()
        self.video_out: PacedVideoTrack = PacedVideoTrack()
        self._video_task: asyncio.Task[None] | None = None
        self._connect_timeout_s = config.connect_timeout_s
        self._dtx = config.dtx
        self._connect_deadline: asyncio.Task[None] | None = None
        self._inbound: asyncio.Queue[MediaStreamTrack | None] = asyncio.Queue()
        self._inbound_track: MediaStreamTrack | None = None
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
            self._inbound.put_nowait(track)
        elif track.kind == "video" and self._video_task is None:
            self._video_task = asyncio.ensure_future(self._drain_video(track))

    async def _drain_video(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                if isinstance(frame, VideoFrame):
                    self.video_in.put(frame)
        except MediaStreamError:
            pass
        finally:
            self.video_in.end()

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
        size = len(raw.encode()) if isinstance(raw, str) else len(raw)
        if size > MAX_MESSAGE_BYTES:
            self.send({"type": "error", "message": "message too large"})
            return
        try:
            message = json.loads(raw)
        except (ValueError, RecursionError):  # bad JSON, bad UTF-8, absurd nesting
            self.send({"type": "error", "message": "messages must be JSON objects"})
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            self.send({"type": "error", "message": "messages need a string 'type'"})
            return
        try:
            self._handler(message)
        except Exception:  # never let a handler bug reach aiortc's receive loop
            log.exception("data channel handler failed")

    async def _on_connection_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            await self.close()

    # --- Transport -------------------------------------------------------------------------
    async def inbound_audio(self) -> AsyncIterator[np.ndarray]:
        track = await self._inbound.get()
        if track is None:
            return
        self._inbound_track = track
        if self.closed.is_set():
            return
        resampler: StreamResampler | None = None
        next_pts: int | None = None
        # A plain await per frame: `close` ends it (see `_end_inbound`). Racing each receive
        # against `closed` cost a task and a wait per 20 ms frame.
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

    def _end_inbound(self) -> None:
        """Wake a receive that waits on a peer that never sent audio: aiortc ends its track's
        queue only once its receiver has decoded something, so the end-of-track None is ours."""
        self._inbound.put_nowait(None)
        queue = self._inbound_queue()
        if queue is not None:
            queue.put_nowait(None)

    def _inbound_queue(self) -> asyncio.Queue[Frame | None] | None:
        """aiortc's RemoteStreamTrack queue of decoded inbound frames (private in aiortc)."""
        queue = getattr(self._inbound_track, "_queue", None)
        return queue if isinstance(queue, asyncio.Queue) else None

    @property
    def inbound_backlog_frames(self) -> int:
        """Decoded inbound frames not yet taken by the session: > a few means it falls
        behind real time (aiortc's track queue is unbounded, so the lag shows here first)."""
        queue = self._inbound_queue()
        return queue.qsize() if queue is not None else 0

    def send(self, message: dict[str, Any]) -> None:
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
        self._end_inbound()
        if self._video_task is not None:
            self._video_task.cancel()
            await asyncio.gather(self._video_task, return_exceptions=True)
        self.video_in.end()
        await self.pc.close()
