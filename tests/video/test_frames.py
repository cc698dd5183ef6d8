"""media/video.py and transport/video.py: formats, sizes, and latest-frame semantics."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from av import VideoFrame

from voxroom.media.video import RateMeter, array_to_frame, fit_size, frame_to_array, to_bgr
from voxroom.transport.video import VideoSource, video_stats_message


def decoded(width: int = 64, height: int = 48, level: int = 100) -> VideoFrame:
    """A frame as the decoder gives it: I420."""
    bgr = np.full((height, width, 3), level, np.uint8)
    bgr[:, : width // 2, 2] = 255  # left half red-ish, to check channel order
    return VideoFrame.from_ndarray(bgr, format="bgr24").reformat(format="yuv420p")


@pytest.mark.parametrize(
    ("request_size", "expected"),
    [
        ((None, None), (640, 480)),
        ((320, None), (320, 240)),
        ((None, 240), (320, 240)),
        ((322, None), (322, 242)),  # even sides, for I420 (241.5 → 242)
        ((100, 100), (100, 100)),
    ],
)
def test_fit_size(request_size: tuple[int | None, int | None], expected: tuple[int, int]) -> None:
    assert fit_size(640, 480, *request_size) == expected


def test_fit_size_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        fit_size(640, 480, 0, None)


def test_formats_shapes_and_channel_order() -> None:
    frame = decoded()
    bgr = frame_to_array(frame, "bgr24")
    rgb = frame_to_array(frame, "rgb24", width=32)
    i420 = frame_to_array(frame, "yuv420p")
    assert bgr.shape == (48, 64, 3) and rgb.shape == (24, 32, 3) and i420.shape == (72, 64)
    assert bgr[10, 5, 2] > 200 and bgr[10, 5, 0] < 150  # red in BGR's last channel
    assert rgb[5, 2, 0] > 200  # … and in RGB's first
    assert np.array_equal(to_bgr(frame_to_array(frame, "rgb24"), "rgb24"), bgr)
    assert np.abs(to_bgr(i420, "yuv420p").astype(int) - bgr).max() <= 3


def test_array_to_frame_checks_layouts() -> None:
    assert array_to_frame(np.zeros((48, 64, 3), np.uint8)).width == 64
    assert array_to_frame(np.zeros((72, 64), np.uint8), "yuv420p").height == 48
    for bad, fmt in [
        (np.zeros((48, 64), np.uint8), "bgr24"),
        (np.zeros((48, 64, 3), np.float32), "bgr24"),
        (np.zeros((71, 64), np.uint8), "yuv420p"),
    ]:
        with pytest.raises(ValueError):
            array_to_frame(bad, fmt)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        array_to_frame(np.zeros((4, 4, 3), np.uint8), "gray")  # type: ignore[arg-type]


def test_rate_meter_counts_a_sliding_window() -> None:
    meter = RateMeter(window_s=2.0)
    for i in range(21):
        meter.tick(at=100 + i * 0.1)  # 10 per second
    assert meter.rate(now=102.0) == pytest.approx(10, rel=0.05)
    assert meter.rate(now=103.0) < 10  # nothing new for a second: it reads as slower
    assert meter.rate(now=110.0) == 0.0
    assert meter.count == 21


async def test_reader_takes_the_newest_frame_and_counts_skipped_ones() -> None:
    source = VideoSource()
    reader = source.frames("bgr24")
    for level in (10, 20, 30):
        source.put(decoded(level=level))
    image = await anext(reader)
    assert image.index == 3 and image.array[0, -1, 0] == pytest.approx(30, abs=6)
    assert reader.stats.dropped_frames == 2 and reader.stats.processed_frames == 1

    waiting = asyncio.ensure_future(anext(reader))  # nothing newer yet: it waits
    await asyncio.sleep(0.01)
    assert not waiting.done()
    source.put(decoded(level=40))
    assert (await waiting).index == 4
    stats = reader.stats
    assert (stats.received_frames, stats.processed_frames, stats.dropped_frames) == (4, 2, 2)
    assert stats.dropped_pct == 50.0


async def test_a_reader_started_late_takes_the_held_frame_first() -> None:
    source = VideoSource()
    for _ in range(5):
        source.put(decoded())
    reader = source.frames("yuv420p", width=32)
    image = await anext(reader)
    assert image.index == 5 and (image.width, image.height) == (32, 24)
    assert reader.stats.dropped_frames == 0 and reader.stats.received_frames == 1


async def test_put_never_waits_for_readers_and_end_stops_them() -> None:
    source = VideoSource()
    for _ in range(1000):  # nobody reads: nothing queues
        source.put(decoded())
    assert source.received_frames == 1000
    reader = source.frames()
    await anext(reader)
    source.end()
    with pytest.raises(StopAsyncIteration):
        await anext(reader)
    source.put(decoded())  # after the end: ignored
    assert source.received_frames == 1000


async def test_latest_is_a_snapshot_without_waiting() -> None:
    source = VideoSource()
    assert source.latest() is None and source.frame_size is None
    source.put(decoded(width=80, height=60))
    image = source.latest("rgb24", height=30)
    assert image is not None and image.array.shape == (30, 40, 3)
    assert source.frame_size == (80, 60)


async def test_stats_message_shape() -> None:
    source = VideoSource()
    reader = source.frames()
    source.put(decoded())
    await anext(reader)
    message = video_stats_message(reader.stats, None)
    assert message["type"] == "video_stats"
    assert message["processed_frames"] == 1 and message["dropped_pct"] == 0.0
