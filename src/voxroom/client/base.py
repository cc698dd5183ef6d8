"""What every voxroom client shares: the microphone it speaks into, the agent's voice and
messages as they arrive (with arrival times), and waiting for a message."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame

from voxroom.media.audio import frame_to_mono, rms_dbfs
from voxroom.transport.webrtc.outbound import PacedAudioTrack
from voxroom.transport.webrtc.video import PacedVideoTrack

VideoHandler = Callable[[VideoFrame, float], None]  # (decoded frame, monotonic arrival time)

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

    def last_speech_before_gap(self, start: float, gap_s: float = 0.3) -> float | None:
        """Arrival of the last voiced frame after `start` that is followed by `gap_s` of
        silence: when the agent stopped talking (e.g. after a barge-in)."""
        last: float | None = None
        for arrived, level in zip(self.times, self.levels, strict=True):
            if arrived < start:
                continue
            # Checked first: with DTX a quiet agent sends no frames, so the frame after the
            # gap may already be its next utterance.
            if last is not None and arrived - last >= gap_s:
                return last
            if level > SPEECH_DBFS:
                last = arrived
        return None

    def speech_seconds_between(self, start: float, end: float = float("inf")) -> float:
        frames = sum(
            1
            for t, lv in zip(self.times, self.levels, strict=True)
            if start <= t <= end and lv > SPEECH_DBFS
        )
        return frames * 0.02


@dataclass(slots=True)
class ReceivedVideo:
    """The agent's video as it arrived: counts and the newest frame (frames are not kept)."""

    frames: int = 0
    first_at: float | None = None
    last_at: float | None = None
    last: VideoFrame | None = None


class CallClient:
    """Speaking, hearing the agent, and its data-channel messages: `messages` holds
    (monotonic arrival time, message) pairs; `received` the agent's audio."""

    def __init__(
        self,
        on_message: Callable[[dict[str, Any]], None] | None = None,
        *,
        video: bool = False,
        on_video: VideoHandler | None = None,
        camera_max_fps: float = 30.0,
    ) -> None:
        self.microphone = PacedAudioTrack()
        self.received = ReceivedAudio()
        # `camera.push(image, "bgr24")` sends video (with `video=True`); frames pushed faster
        # than it sends are replaced by newer ones, as a real camera's encoder would skip them.
        self.camera = PacedVideoTrack(max_fps=camera_max_fps) if video else None
        self.received_video = ReceivedVideo()  # the agent's video
        self._on_video = on_video
        self.messages: list[tuple[float, dict[str, Any]]] = []
        self._on_message = on_message
        self._new_message = asyncio.Event()

    @property
    def session_id(self) -> str | None:
        """The server's id of the agent's session (its `session` message), e.g. for the audit
        viewer."""
        for _, message in self.messages:
            if message.get("type") == "session":
                return str(message["session_id"])
        return None

    def _record_message(self, raw: str | bytes) -> None:
        message = json.loads(raw)
        self.messages.append((time.monotonic(), message))
        self._new_message.set()
        if self._on_message:
            self._on_message(message)

    async def _receive_audio(self, track: MediaStreamTrack, into: ReceivedAudio) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if not isinstance(frame, AudioFrame):
                    continue
                samples = frame_to_mono(frame)
                into.chunks.append(samples)
                into.times.append(time.monotonic())
                into.levels.append(rms_dbfs(samples))

    async def _receive_video(self, track: MediaStreamTrack) -> None:
        received = self.received_video
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if not isinstance(frame, VideoFrame):
                    continue
                arrived = time.monotonic()
                received.frames += 1
                received.first_at = received.first_at or arrived
                received.last_at, received.last = arrived, frame
                if self._on_video:
                    self._on_video(frame, arrived)

    async def speak(self, samples: np.ndarray, sample_rate: int) -> float:
        """Send speech in real time; return the monotonic time its last sample was sent."""
        _, end = await self.speak_timed(samples, sample_rate)
        return end

    async def speak_timed(self, samples: np.ndarray, sample_rate: int) -> tuple[float, float]:
        """Send speech in real time; return when its first and last samples were sent."""
        loop = asyncio.get_running_loop()
        started: asyncio.Future[float] = loop.create_future()
        done: asyncio.Future[float] = loop.create_future()

        def stamp(future: asyncio.Future[float]) -> None:
            if not future.done():
                future.set_result(time.monotonic())

        self.microphone.mark(lambda: stamp(started))
        self.microphone.push(samples, sample_rate)
        self.microphone.mark(lambda: stamp(done))
        return await started, await done

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
