"""P2P video end to end in one process, no models: an aiortc client's camera reaches
`P2PTransport.peer.video_in`, a processor pushes results to `video_out`, the client
receives them."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import VideoFrame

from voxroom.bench.video_scene import read_barcode, write_barcode
from voxroom.config import TransportConfig
from voxroom.transport.p2p.peer import P2PTransport
from voxroom.transport.webrtc.outbound import PacedAudioTrack
from voxroom.transport.webrtc.video import PacedVideoTrack


@dataclass
class Peers:
    client: RTCPeerConnection
    camera: PacedVideoTrack
    transport: P2PTransport
    received: list[tuple[float, VideoFrame]]
    answer: str


async def _receive(track: MediaStreamTrack, into: list[tuple[float, VideoFrame]]) -> None:
    with contextlib.suppress(MediaStreamError):
        while True:
            frame = await track.recv()
            assert isinstance(frame, VideoFrame)
            into.append((time.monotonic(), frame))


@contextlib.asynccontextmanager
async def connected(video_lines: int = 1) -> AsyncIterator[Peers]:
    client = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    microphone, camera = PacedAudioTrack(), PacedVideoTrack()
    client.addTransceiver(microphone, direction="sendrecv")
    client.addTransceiver(camera, direction="sendrecv")
    for _ in range(video_lines - 1):
        client.addTransceiver("video", direction="sendrecv")
    client.createDataChannel("voxroom")
    received: list[tuple[float, VideoFrame]] = []
    tasks: list[asyncio.Task[None]] = []

    def on_track(track: MediaStreamTrack) -> None:
        if track.kind == "video" and not tasks:
            tasks.append(asyncio.ensure_future(_receive(track, received)))

    client.on("track", on_track)
    transport = P2PTransport(TransportConfig())
    try:
        await client.setLocalDescription(await client.createOffer())
        answer = await transport.accept(client.localDescription.sdp)
        await client.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        yield Peers(client, camera, transport, received, answer)
    finally:
        for task in tasks:
            task.cancel()
        await transport.close()
        await client.close()
        microphone.stop()
        camera.stop()


async def _camera(camera: PacedVideoTrack, frames: int, fps: float) -> dict[int, float]:
    sent: dict[int, float] = {}
    for counter in range(frames):
        image = np.full((480, 640, 3), 90, np.uint8)
        write_barcode(image, counter)
        sent[counter] = time.monotonic()
        camera.push(image[::2, ::2].copy(), "bgr24")  # 320×240, barcode halved with it
        await asyncio.sleep(1 / fps)
    return sent


async def test_answer_has_one_sendrecv_video_line_and_refuses_extras() -> None:
    async with connected(video_lines=2) as peers:
        video = [block for block in peers.answer.split("m=")[1:] if block.startswith("video")]
        assert len(video) == 2
        assert "a=sendrecv" in video[0]
        assert "a=inactive" in video[1]


async def test_camera_frames_reach_the_agent_and_its_video_comes_back() -> None:
    async with connected() as peers:
        transport = peers.transport
        assert transport.peer.video_in is not None

        async def invert() -> None:  # the simplest "agent": negate the picture
            async for image in transport.peer.video_in.frames("bgr24"):
                transport.video_out.push(255 - image.array, captured_at=image.received_at)

        processor = asyncio.create_task(invert())
        try:
            sent = await _camera(peers.camera, frames=45, fps=15)
            await asyncio.sleep(1.0)
        finally:
            processor.cancel()
        assert transport.peer.video_in.received_frames >= 30
        assert len(peers.received) >= 30
        delays = []
        for arrived, frame in peers.received:
            luma = frame.to_ndarray()[: frame.height]
            counter = read_barcode(255 - luma)  # the agent inverted it
            if counter is not None:
                delays.append(arrived - sent[counter])
        assert len(delays) >= 30, f"only {len(delays)} returned frames carried a barcode"
        assert 0 < float(np.median(delays)) < 0.5
        stats = transport.video_out.stats
        assert stats.sent_frames >= 30 and stats.delay_ms_p50 is not None


async def test_a_slow_reader_gets_the_newest_frames_and_counts_the_rest() -> None:
    async with connected() as peers:
        video_in = peers.transport.peer.video_in
        reader = video_in.frames("yuv420p")
        taken: list[int] = []

        async def slow() -> None:
            async for image in reader:
                assert image.array.shape == (image.height * 3 // 2, image.width)
                taken.append(image.index)
                await asyncio.sleep(0.25)  # a 4 fps "model" on a 15 fps camera

        processor = asyncio.create_task(slow())
        try:
            await _camera(peers.camera, frames=45, fps=15)
        finally:
            processor.cancel()
        stats = reader.stats
        assert len(taken) >= 8
        assert stats.dropped_frames > stats.processed_frames  # most frames were skipped
        assert stats.received_frames == stats.processed_frames + stats.dropped_frames + (
            video_in.received_frames - taken[-1]
        )
        assert 2.5 < stats.processed_fps <= 4.5


async def test_audio_only_offer_is_answered_without_video() -> None:
    client = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    microphone = PacedAudioTrack()
    client.addTransceiver(microphone, direction="sendrecv")
    client.createDataChannel("voxroom")
    transport = P2PTransport(TransportConfig())
    try:
        await client.setLocalDescription(await client.createOffer())
        answer = await transport.accept(client.localDescription.sdp)
        assert "m=video" not in answer
        assert transport.peer.video_in is not None and transport.peer.video_in.latest() is None
    finally:
        await transport.close()
        await client.close()
        microphone.stop()
    with pytest.raises(StopAsyncIteration):  # the camera never came: readers end with the peer
        await transport.peer.video_in.frames().__anext__()
