"""transport/webrtc/opus.py: agent audio encoded on the loop, inbound audio decoded on the loop."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import threading
from fractions import Fraction

import numpy as np
import pytest
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from av import AudioFrame

from voxroom.media.audio import rms_dbfs
from voxroom.transport.webrtc import tuning
from voxroom.transport.webrtc.opus import (
    DTX_AFTER_SILENT_FRAMES,
    DTX_INTERVAL_FRAMES,
    SILENT_FRAMES_BEFORE_CACHE,
    InlineAudioDecoding,
    MonoOpusDecoder,
    MonoOpusEncoder,
    OpusSenderTrack,
)
from voxroom.transport.webrtc.outbound import FRAME_SAMPLES, WIRE_RATE, PacedAudioTrack

from .fakes import tone

OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)


def _frames(samples: np.ndarray) -> list[np.ndarray]:
    return [samples[i : i + FRAME_SAMPLES] for i in range(0, samples.size, FRAME_SAMPLES)]


def _decode_all(packets: list[bytes]) -> np.ndarray:
    output: asyncio.Queue[object] = asyncio.Queue()
    decoding = InlineAudioDecoding(output, threading.Event())  # type: ignore[arg-type]
    for index, payload in enumerate(packets):
        decoding.put((OPUS, JitterFrame(data=payload, timestamp=index * FRAME_SAMPLES)))
    decoded = []
    while not output.empty():
        frame = output.get_nowait()
        assert isinstance(frame, AudioFrame)
        assert (frame.sample_rate, frame.layout.name, frame.format.name) == (48000, "mono", "s16")
        decoded.append(frame.to_ndarray().reshape(-1))
    return np.concatenate(decoded)


def test_speech_round_trips_through_encoder_and_inline_decoder() -> None:
    encoder = MonoOpusEncoder()
    speech = tone(0.5, WIRE_RATE, 440, 0.3)
    packets = [p for f in _frames(speech) if (p := encoder.encode(f, silent=False)) is not None]
    decoded = _decode_all(packets)

    assert len(packets) >= 24  # 25 frames, the codec may hold back the first
    assert abs(rms_dbfs(decoded[4800:]) - rms_dbfs(speech)) < 1.5


def test_silence_is_served_from_the_cache_once_the_encoder_has_settled() -> None:
    encoder = MonoOpusEncoder()
    zeros = np.zeros(FRAME_SAMPLES, dtype=np.int16)
    for _ in range(3):
        encoder.encode(tone(0.02, WIRE_RATE, 300, 0.3), silent=False)
    silent = [encoder.encode(zeros, silent=True) for _ in range(SILENT_FRAMES_BEFORE_CACHE + 5)]

    cached = silent[SILENT_FRAMES_BEFORE_CACHE]
    assert cached is not None and len(cached) < 10
    assert all(packet is cached for packet in silent[SILENT_FRAMES_BEFORE_CACHE + 1 :])
    assert np.abs(_decode_all([p for p in silent if p is not None])[-FRAME_SAMPLES:]).max() == 0
    # Speech after the silence goes through the codec again.
    assert encoder.encode(tone(0.02, WIRE_RATE, 300, 0.3), silent=False) is not cached


def test_a_corrupt_packet_is_flagged_and_decoding_goes_on() -> None:
    output: asyncio.Queue[object] = asyncio.Queue()
    error = threading.Event()
    decoding = InlineAudioDecoding(output, error)  # type: ignore[arg-type]
    encoder = MonoOpusEncoder()
    good = [encoder.encode(f, silent=False) for f in _frames(tone(0.1, WIRE_RATE, 440))]

    decoding.put((OPUS, JitterFrame(data=b"\xff" * 3, timestamp=0)))
    for payload in good:
        if payload is not None:
            decoding.put((OPUS, JitterFrame(data=payload, timestamp=0)))
    decoding.put(None)

    assert error.is_set()
    items = [output.get_nowait() for _ in range(output.qsize())]
    assert items[-1] is None and len(items) >= 4


async def test_sender_track_paces_packets_with_the_source_timestamps() -> None:
    source = PacedAudioTrack()
    track = OpusSenderTrack(source)
    source.push(tone(0.1, WIRE_RATE, 440), WIRE_RATE)
    packets = [await track.recv() for _ in range(6)]

    pts = [p.pts for p in packets]
    assert all(b - a == FRAME_SAMPLES for a, b in itertools.pairwise(pts))
    assert all(p.time_base == Fraction(1, WIRE_RATE) for p in packets)
    track.stop()
    assert source.readyState == "ended"
    with pytest.raises(MediaStreamError):
        await track.recv()


async def test_dtx_idle_agent_sends_a_header_only_packet_every_400_ms() -> None:
    """After speech and the 200 ms hangover of encoded silence, an idle agent sends one
    zero-length Opus frame per 400 ms, on the frame grid; decoders play it as silence."""
    source = PacedAudioTrack()
    track = OpusSenderTrack(source, dtx=True)
    source.push(tone(0.1, WIRE_RATE, 440, 0.3), WIRE_RATE)
    packets = [await track.recv() for _ in range(4 + DTX_AFTER_SILENT_FRAMES + 3)]
    track.stop()

    sizes = [p.size for p in packets]
    slots = [p.pts // FRAME_SAMPLES for p in packets]
    assert all(p.pts % FRAME_SAMPLES == 0 for p in packets)
    assert all(size > 20 for size in sizes[:4])  # the tone
    entered = sizes.index(1)  # the first DTX packet closes the hangover
    assert slots[: entered + 1] == list(range(slots[0], slots[0] + entered + 1))
    assert entered >= DTX_AFTER_SILENT_FRAMES
    assert sizes[entered:] == [1] * (len(packets) - entered)
    assert [b - a for a, b in itertools.pairwise(slots[entered:])] == [DTX_INTERVAL_FRAMES] * (
        len(packets) - entered - 1
    )
    assert not _decode_all([bytes(p) for p in packets[entered:]]).any()


async def test_dtx_ends_at_the_next_frame_slot_when_audio_or_a_marker_is_queued() -> None:
    """Audio queued during DTX goes out in the next 20 ms slot, not at the next keep-alive;
    a marker queued alone fires without waiting for one either."""
    source = PacedAudioTrack()
    track = OpusSenderTrack(source, dtx=True)
    source.push(tone(0.02, WIRE_RATE, 440, 0.3), WIRE_RATE)
    packets = [await track.recv()]
    while packets[-1].size != 1:
        packets.append(await track.recv())
    marked = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.call_later(0.06, source.mark, marked.set)
    loop.call_later(0.1, source.push, tone(0.04, WIRE_RATE, 440, 0.3), WIRE_RATE)
    entered = packets[-1]
    speech = await track.recv()
    while speech.size == 1:  # the marker's wake-up sends one more header-only packet
        speech = await track.recv()
    track.stop()

    assert marked.is_set()
    assert speech.size > 20
    gap = (speech.pts - entered.pts) // FRAME_SAMPLES
    assert 1 <= gap < DTX_INTERVAL_FRAMES  # woken by the push, not by the keep-alive timer


async def test_loopback_call_decodes_audio_without_a_decoder_thread() -> None:
    """A real aiortc connection with the tuning applied: the agent's audio arrives, decoded
    mono, and no receiver thread is left running."""
    tuning.apply(jitter_prefetch=1, host_addresses=["127.0.0.1"])
    sender, receiver = RTCPeerConnection(), RTCPeerConnection()
    source = PacedAudioTrack()
    sender.addTrack(OpusSenderTrack(source))
    arrived: asyncio.Queue[AudioFrame] = asyncio.Queue()

    pumps: list[asyncio.Task[None]] = []

    @receiver.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        async def pump() -> None:
            with contextlib.suppress(MediaStreamError):
                while True:
                    frame = await track.recv()
                    assert isinstance(frame, AudioFrame)
                    arrived.put_nowait(frame)

        pumps.append(asyncio.ensure_future(pump()))

    try:
        await sender.setLocalDescription(await sender.createOffer())
        await receiver.setRemoteDescription(sender.localDescription)
        await receiver.setLocalDescription(await receiver.createAnswer())
        await sender.setRemoteDescription(
            RTCSessionDescription(receiver.localDescription.sdp, "answer")
        )
        source.push(tone(1.0, WIRE_RATE, 440, 0.3), WIRE_RATE)
        frames = [await asyncio.wait_for(arrived.get(), 10) for _ in range(40)]

        assert all(f.layout.name == "mono" for f in frames)
        loud = [f for f in frames if rms_dbfs(f.to_ndarray().reshape(-1)) > -20]
        assert len(loud) >= 20
        assert not [t for t in threading.enumerate() if t.name == "audio-decoder" and t.is_alive()]
    finally:
        await sender.close()
        await receiver.close()
        await asyncio.gather(*pumps)


def _native_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def test_codecs_start_no_threads_per_session() -> None:
    """PyAV's encoder filter graph started FFmpeg worker threads (2 native threads per session,
    idle, seen in the sessions bench's thread count); one session's audio needs none."""
    tuning.apply(jitter_prefetch=1, host_addresses=["127.0.0.1"])
    MonoOpusEncoder(), MonoOpusDecoder()  # anything process-wide starts here
    before = _native_threads()
    codecs = [(MonoOpusEncoder(), MonoOpusDecoder()) for _ in range(4)]
    for encoder, decoder in codecs:
        packet = None
        while packet is None:
            packet = encoder.encode(tone(0.02, WIRE_RATE, 440, 0.3), silent=False)
        decoder.decode(JitterFrame(packet, timestamp=0))

    assert _native_threads() == before
