"""A voxroom client over aiortc: what tests, benchmarks and headless integrations use.

It speaks the same contract as the browser (docs/protocol.md): token, SDP offer/answer over
HTTP, one audio track each way, a `voxroom` data channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from voxroom.media.audio import frame_to_mono, rms_dbfs
from voxroom.transport.p2p.outbound import WIRE_RATE, PacedAudioTrack

SPEECH_DBFS = -45.0  # a received frame louder than this is agent speech, not comfort silence


@dataclass(slots=True)
class ReceivedAudio:
    """Everything the agent sent us, with arrival times, at 48 kHz mono."""

    chunks: list[np.ndarray] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    levels: list[float] = field(default_factory=list)

    def first_speech_after(self, start: float) -> float | None:
        for arrived, level in zip(self.times, self.levels, strict=True):
            if arrived >= start and level > SPEECH_DBFS:
                return arrived
        return None

    def samples_between(self, start: float, end: float = float("inf")) -> np.ndarray:
        picked = [c for c, t in zip(self.chunks, self.times, strict=True) if start <= t <= end]
        return np.concatenate(picked) if picked else np.zeros(0, np.int16)

    def speech_seconds_between(self, start: float, end: float = float("inf")) -> float:
        frames = sum(
            1
            for t, lv in zip(self.times, self.levels, strict=True)
            if start <= t <= end and lv > SPEECH_DBFS
        )
        return frames * 0.02


class VoxroomClient:
    def __init__(
        self, base_url: str, *, on_message: Callable[[dict[str, Any]], None] | None = None
    ):
        self.base_url = base_url.rstrip("/")
        self.microphone = PacedAudioTrack()
        self.received = ReceivedAudio()
        self.messages: list[tuple[float, dict[str, Any]]] = []
        self._on_message = on_message
        self._pc: RTCPeerConnection | None = None
        self._channel: Any = None
        self._http = aiohttp.ClientSession()
        self._token = ""
        self.session_url: str | None = None
        self._receiver: asyncio.Task[None] | None = None
        self._new_message = asyncio.Event()
        self.channel_open = asyncio.Event()

    async def token(self) -> str:
        async with self._http.post(f"{self.base_url}/api/v1/tokens", json={}) as response:
            response.raise_for_status()
            self._token = str((await response.json())["token"])
        return self._token

    async def connect(self, token: str | None = None) -> None:
        self._token = token or self._token or await self.token()
        pc = self._pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTransceiver(self.microphone, direction="sendrecv")
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

    async def _receive(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if not isinstance(frame, AudioFrame):
                    continue
                samples = frame_to_mono(frame)
                self.received.chunks.append(samples)
                self.received.times.append(time.monotonic())
                self.received.levels.append(rms_dbfs(samples))

    def _record_message(self, raw: str) -> None:
        message = json.loads(raw)
        self.messages.append((time.monotonic(), message))
        self._new_message.set()
        if self._on_message:
            self._on_message(message)

    def send(self, message: dict[str, Any]) -> None:
        self._channel.send(json.dumps(message))

    async def speak(self, samples: np.ndarray, sample_rate: int) -> float:
        """Send speech in real time; return the monotonic time its last sample was sent."""
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()

        def sent() -> None:
            if not done.done():
                done.set_result(time.monotonic())

        self.microphone.push(samples, sample_rate)
        self.microphone.mark(sent)
        return await done

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float, after: float = 0.0
    ) -> dict[str, Any]:
        """The first message (received at or after `after`) matching `predicate`."""
        deadline = time.monotonic() + timeout
        while True:
            for arrived, message in self.messages:
                if arrived >= after and predicate(message):
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching message within {timeout} s")
            self._new_message.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_message.wait(), remaining)

    def transcripts(self, role: str, final: bool = True) -> list[dict[str, Any]]:
        return [
            m
            for _, m in self.messages
            if m.get("type") == "transcript" and m["role"] == role and m["final"] == final
        ]

    async def close(self) -> None:
        if self.session_url:
            with contextlib.suppress(aiohttp.ClientError):
                async with self._http.delete(
                    self.session_url, headers={"Authorization": f"Bearer {self._token}"}
                ):
                    pass
        if self._receiver:
            self._receiver.cancel()
        if self._pc:
            await self._pc.close()
        self.microphone.stop()
        await self._http.close()


__all__ = ["WIRE_RATE", "ReceivedAudio", "VoxroomClient"]
