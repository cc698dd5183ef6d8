"""transport/webrtc/outbound.py: the paced, clearable 48 kHz outbound track."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError

from voxroom.transport.webrtc.outbound import FRAME_SAMPLES, WIRE_RATE, PacedAudioTrack

from .fakes import tone


def ramp(n: int, start: int = 1) -> np.ndarray:
    """Distinct non-zero samples, so every sample's position on the wire can be checked."""
    return np.arange(start, start + n, dtype=np.int16)


async def frames(track: PacedAudioTrack, count: int) -> list[np.ndarray]:
    out = []
    for _ in range(count):
        frame = await track.recv()
        out.append(frame.to_ndarray().reshape(-1))
    return out


async def settle() -> None:
    """Let markers scheduled with call_soon run."""
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_22050_hz_audio_goes_out_as_20ms_48k_mono_s16_frames() -> None:
    track = PacedAudioTrack()
    track.push(tone(0.1, 22050), 22050)  # 2205 samples → 4800 at 48 kHz = 5 frames

    assert track.queued_seconds == pytest.approx(0.1, abs=0.001)
    received = []
    for index in range(6):
        frame = await track.recv()
        assert frame.samples == FRAME_SAMPLES == 960
        assert frame.sample_rate == WIRE_RATE == 48000
        assert frame.format.name == "s16"
        assert frame.layout.name == "mono"
        assert frame.pts == index * FRAME_SAMPLES
        received.append(frame.to_ndarray().reshape(-1))

    assert all(np.abs(f).max() > 5000 for f in received[:5])  # the tone
    assert not received[5].any()  # then silence
    assert track.queued_seconds == 0
    track.stop()


async def test_audio_is_sent_in_order_across_frame_boundaries() -> None:
    track = PacedAudioTrack()
    track.push(ramp(1000), WIRE_RATE)
    track.push(ramp(1000, start=1001), WIRE_RATE)

    sent = np.concatenate(await frames(track, 3))

    np.testing.assert_array_equal(sent[:2000], ramp(2000))
    assert not sent[2000:].any()
    track.stop()


async def test_silence_when_idle() -> None:
    track = PacedAudioTrack()

    for frame in await frames(track, 3):
        assert frame.size == FRAME_SAMPLES and not frame.any()
    assert track.played_seconds == 0
    track.stop()


async def test_markers_fire_in_order_only_after_the_audio_before_them_was_sent() -> None:
    track = PacedAudioTrack()
    fired: list[str] = []
    track.push(ramp(2 * FRAME_SAMPLES), WIRE_RATE)
    track.mark(lambda: fired.append("a"))
    track.push(ramp(500), WIRE_RATE)
    track.mark(lambda: fired.append("b"))
    track.mark(lambda: fired.append("c"))

    await frames(track, 1)
    await settle()
    assert fired == []  # half of the first chunk is still queued

    await frames(track, 1)
    await settle()
    assert fired == ["a"]  # first chunk fully sent; 500 samples before "b" still queued

    await frames(track, 1)
    await settle()
    assert fired == ["a", "b", "c"]
    track.stop()


async def test_marker_mid_frame_fires_with_the_frame_that_completes_its_audio() -> None:
    track = PacedAudioTrack()
    fired: list[int] = []
    track.push(ramp(1000), WIRE_RATE)
    track.mark(lambda: fired.append(len(fired)))
    track.push(ramp(100, start=2000), WIRE_RATE)

    _, second = await frames(track, 2)
    await settle()

    assert fired == [0]
    np.testing.assert_array_equal(second[:40], ramp(40, start=961))
    np.testing.assert_array_equal(second[40:140], ramp(100, start=2000))
    track.stop()


async def test_marker_on_an_empty_queue_fires_on_the_next_frame() -> None:
    track = PacedAudioTrack()
    fired: list[bool] = []
    track.mark(lambda: fired.append(True))
    await settle()
    assert fired == []  # not before a frame is produced

    await frames(track, 1)
    await settle()
    assert fired == [True]
    track.stop()


async def test_clear_drops_queued_audio_and_markers_and_returns_seconds_dropped() -> None:
    track = PacedAudioTrack()
    fired: list[bool] = []
    track.push(ramp(2000), WIRE_RATE)
    track.mark(lambda: fired.append(True))
    track.push(ramp(4000), WIRE_RATE)

    await frames(track, 1)  # 960 sent
    dropped = track.clear()

    assert dropped == pytest.approx((6000 - 960) / WIRE_RATE)
    assert track.queued_seconds == 0
    (after,) = await frames(track, 1)
    await settle()
    assert not after.any()  # the very next frame is silence
    assert fired == []
    assert track.clear() == 0.0
    track.stop()


async def test_pause_sends_silence_and_holds_the_queue_until_resume() -> None:
    track = PacedAudioTrack()
    fired: list[bool] = []
    track.push(ramp(FRAME_SAMPLES), WIRE_RATE)
    track.push(ramp(FRAME_SAMPLES, start=2000), WIRE_RATE)
    track.mark(lambda: fired.append(True))

    (first,) = await frames(track, 1)
    track.pause()
    paused = await frames(track, 2)
    await settle()

    np.testing.assert_array_equal(first, ramp(FRAME_SAMPLES))
    assert all(not frame.any() for frame in paused)
    assert fired == []  # its audio is still queued behind the pause
    assert track.queued_seconds == pytest.approx(FRAME_SAMPLES / WIRE_RATE)
    assert track.played_seconds == pytest.approx(FRAME_SAMPLES / WIRE_RATE)

    track.resume()
    (resumed,) = await frames(track, 1)
    await settle()
    np.testing.assert_array_equal(resumed, ramp(FRAME_SAMPLES, start=2000))
    assert fired == [True]
    track.stop()


async def test_clear_ends_a_pause() -> None:
    track = PacedAudioTrack()
    track.push(ramp(2000), WIRE_RATE)
    track.pause()

    assert track.clear() == pytest.approx(2000 / WIRE_RATE)
    track.push(ramp(FRAME_SAMPLES, start=5000), WIRE_RATE)
    (frame,) = await frames(track, 1)

    np.testing.assert_array_equal(frame, ramp(FRAME_SAMPLES, start=5000))
    track.stop()


async def test_observers_see_the_frames_of_queued_audio_not_idle_silence() -> None:
    track = PacedAudioTrack()
    seen: list[tuple[int, int, bool]] = []
    track.observe(lambda samples, rate: seen.append((samples.size, rate, bool(samples.any()))))
    track.push(ramp(FRAME_SAMPLES + 100), WIRE_RATE)  # a full frame and 100 samples more

    await frames(track, 4)

    # The partial frame is reported whole (its zero tail was sent); the idle ones are not.
    assert seen == [(FRAME_SAMPLES, WIRE_RATE, True), (FRAME_SAMPLES, WIRE_RATE, True)]
    track.stop()


async def test_played_seconds_counts_real_audio_not_filler() -> None:
    track = PacedAudioTrack()
    track.push(ramp(1000), WIRE_RATE)

    await frames(track, 3)

    assert track.played_seconds == pytest.approx(1000 / WIRE_RATE)
    track.push(ramp(2000), WIRE_RATE)
    await frames(track, 1)
    track.clear()
    assert track.played_seconds == pytest.approx(1960 / WIRE_RATE)
    track.stop()


async def test_frames_are_paced_in_real_time() -> None:
    track = PacedAudioTrack()
    await track.recv()  # the clock starts with the first frame
    started = time.monotonic()

    await frames(track, 5)

    elapsed = time.monotonic() - started
    assert 0.08 <= elapsed < 0.5  # ~100 ms for 5 frames of 20 ms
    track.stop()


async def test_recv_after_stop_raises_media_stream_error() -> None:
    track = PacedAudioTrack()
    track.stop()

    with pytest.raises(MediaStreamError):
        await track.recv()


async def test_pushing_empty_audio_queues_nothing() -> None:
    track = PacedAudioTrack()
    track.push(np.zeros(0, np.int16), 22050)

    assert track.queued_seconds == 0
    track.stop()
