"""A peer-to-peer voxroom client over aiortc: what tests, benchmarks and integrations use.

It speaks the same contract as the browser (docs/protocol.md): token, SDP offer/answer over
HTTP, one audio track each way, a `voxroom` data channel, and with `video=True` one video track
each way (a camera we push frames into; the agent's video comes back).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from voxroom.client.base import CallClient, VideoHandler
from voxroom.transport.webrtc.opus import OpusSenderTrack


class VoxroomClient(CallClient):
    """A peer-to-peer call with the agent."""

    def __init__(
        self,
        base_url: str,
        *,
        on_message: Callable[[dict[str, Any]], None] | None = None,
        video: bool = False,
        on_video: VideoHandler | None = None,
        camera_max_fps: float = 30.0,
    ):
        super().__init__(on_message, video=video, on_video=on_video, camera_max_fps=camera_max_fps)
        self.base_url = base_url.rstrip("/")
        self._video_receiver: asyncio.Task[None] | None = None
        self._pc: RTCPeerConnection | None = None
        self._channel: Any = None
        self._http = aiohttp.ClientSession()
        self._token = ""
        self.session_url: str | None = None
        self._receiver: asyncio.Task[None] | None = None
        self.channel_open = asyncio.Event()

    async def token(self) -> str:
        async with self._http.post(f"{self.base_url}/api/v1/tokens", json={}) as response:
            response.raise_for_status()
            self._token = str((await response.json())["token"])
        return self._token

    def _microphone_sender(self) -> MediaStreamTrack:
        """The track the RTP sender reads: the microphone's audio as Opus packets."""
        return OpusSenderTrack(self.microphone)

    async def connect(self, token: str | None = None) -> None:
        self._token = token or self._token or await self.token()
        pc = self._pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTransceiver(self._microphone_sender(), direction="sendrecv")
        if self.camera is not None:
            pc.addTransceiver(self.camera, direction="sendrecv")
        self._channel = pc.createDataChannel("voxroom")
        self._channel.on("message", self._record_message)
        self._channel.on("open", self.channel_open.set)
        pc.on("track", self._on_track)
        await pc.setLocalDescription(await pc.createOffer())  # aiortc gathers fully here
        headers = {"Content-Type": "application/sdp", "Authorization": f"Bearer {self._token}"}
        async with self._http.post(
            f"{self.base_url}/api/v1/sessions", data=pc.localDescription.sdp, headers=headers
        ) as response:
            if response.status != 201:
                raise RuntimeError(f"session refused: {response.status} {await response.text()}")
            self.session_url = self.base_url + response.headers["Location"]
            answer = await response.text()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await asyncio.wait_for(self.channel_open.wait(), timeout=10)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._receiver = asyncio.ensure_future(self._receive(track))
        elif track.kind == "video" and self._video_receiver is None:
            self._video_receiver = asyncio.ensure_future(self._receive_video(track))

    async def _receive(self, track: MediaStreamTrack) -> None:
        """The agent's voice (load clients replace this to count frames without decoding)."""
        await self._receive_audio(track, self.received)

    def send(self, message: dict[str, Any]) -> None:
        self._channel.send(json.dumps(message))

    async def close(self) -> None:
        if self.session_url:
            with contextlib.suppress(aiohttp.ClientError):
                async with self._http.delete(
                    self.session_url, headers={"Authorization": f"Bearer {self._token}"}
                ):
                    pass
        for task in (self._receiver, self._video_receiver):
            if task:
                task.cancel()
        if self._pc:
            await self._pc.close()
        self.microphone.stop()
        if self.camera is not None:
            self.camera.stop()
        await self._http.close()


__all__ = ["VoxroomClient"]
