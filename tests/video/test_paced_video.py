"""transport/webrtc/video.py: outbound pacing, newest-wins, keep-alive, and the marker jitter
buffer that releases a video frame at its last packet."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from aiortc.jitterbuffer import JitterBuffer
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtpPacket

from voxroom.media.video import VIDEO_CLOCK_RATE
from voxroom.transport.webrtc.video import MarkerJitterBuffer, PacedVideoTrack


def image(level: int) -> np.ndarray:
    return np.full((48, 64, 3), level, np.uint8)


async def test_nothing_is_sent_before_the_first_push() -> None:
    track = PacedVideoTrack()
    pending = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0.05)
    assert not pending.done()  # a voice-only agent costs the encoder nothing
    track.push(image(50))
    frame = await asyncio.wait_for(pending, 1)
    assert frame.width == 64 and frame.pts == 0
    track.stop()


async def test_newest_push_wins_and_the_rate_is_capped() -> None:
    track = PacedVideoTrack(max_fps=10)
    track.push(image(1), captured_at=time.monotonic())
    await track.recv()
    for level in (2, 3, 4):  # faster than 10 fps: only the newest is sent next
        track.push(image(level))
    started = time.monotonic()
    frame = await track.recv()
    assert time.monotonic() - started >= 0.08  # waited for the 100 ms slot
    assert frame.to_ndarray(format="bgr24")[0, 0, 0] == pytest.approx(4, abs=3)
    stats = track.stats
    assert (stats.pushed_frames, stats.sent_frames, stats.replaced_frames) == (4, 2, 2)
    assert stats.delay_ms_p50 is not None and stats.delay_ms_p50 < 50
    track.stop()


async def test_timestamps_follow_the_clock_and_keepalive_repeats() -> None:
    track = PacedVideoTrack(keepalive_s=0.1)
    track.push(image(1))
    first_pts = (await track.recv()).pts
    repeat_pts = (await asyncio.wait_for(track.recv(), 1)).pts  # nothing new: the last again
    assert first_pts is not None and repeat_pts is not None
    assert track.stats.repeated_frames == 1
    assert repeat_pts - first_pts == pytest.approx(0.1 * VIDEO_CLOCK_RATE, rel=0.5)
    track.push(image(2))
    next_pts = (await track.recv()).pts
    assert next_pts is not None and next_pts > repeat_pts
    track.stop()


async def test_stop_ends_a_waiting_recv() -> None:
    track = PacedVideoTrack()
    pending = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0.01)
    track.stop()
    with pytest.raises(MediaStreamError):
        await asyncio.wait_for(pending, 1)


def packet(seq: int, timestamp: int, marker: bool, data: bytes) -> RtpPacket:
    p = RtpPacket(sequence_number=seq, timestamp=timestamp, marker=int(marker))
    p._data = data  # type: ignore[attr-defined]  # what the receiver stores after depayloading
    return p


def test_marker_buffer_releases_a_frame_at_its_last_packet() -> None:
    stock, ours = JitterBuffer(128, is_video=True), MarkerJitterBuffer(128, is_video=True)
    frame_a = [packet(10, 1000, False, b"a1"), packet(11, 1000, True, b"a2")]
    for p in frame_a:
        _, stock_frame = stock.add(p)
        _, our_frame = ours.add(p)
    assert stock_frame is None  # aiortc waits for the next frame's first packet…
    assert our_frame is not None and our_frame.data == b"a1a2"  # …we do not
    _, stock_frame = stock.add(packet(12, 4000, True, b"b"))
    assert stock_frame is not None and stock_frame.data == b"a1a2"
    _, our_frame = ours.add(packet(12, 4000, True, b"b"))
    assert our_frame is not None and (our_frame.data, our_frame.timestamp) == (b"b", 4000)


def test_marker_buffer_waits_for_missing_packets_and_survives_a_lost_marker() -> None:
    buffer = MarkerJitterBuffer(128, is_video=True)
    assert buffer.add(packet(20, 1000, False, b"1"))[1] is None
    assert buffer.add(packet(22, 1000, True, b"3"))[1] is None  # 21 missing: incomplete
    _, frame = buffer.add(packet(21, 1000, False, b"2"))
    assert frame is not None and frame.data == b"123"
    # A frame whose marker packet was lost is released when the next frame starts.
    assert buffer.add(packet(23, 2000, False, b"x"))[1] is None
    _, frame = buffer.add(packet(25, 3000, True, b"z"))
    assert frame is None  # 24 (x's marker) never comes; 25 is not contiguous yet
    _, frame = buffer.add(packet(24, 3000, False, b"y"))
    assert frame is not None and frame.data == b"x"


def test_marker_buffer_leaves_audio_alone() -> None:
    buffer = MarkerJitterBuffer(16, prefetch=0)
    _, frame = buffer.add(packet(1, 960, True, b"o"))
    assert frame is None  # audio: aiortc's rule, released by the next packet
