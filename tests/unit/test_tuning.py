"""transport/webrtc/tuning.py: process-wide aiortc/aioice adjustments."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import aioice.ice
import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection, rtp
from aiortc.rtp import RtpPacket

from voxroom.transport.webrtc import tuning


@pytest.fixture(autouse=True)
def restore_host_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    # Whatever a test installs, put back what was there (conftest: 127.0.0.1 only).
    monkeypatch.setattr(aioice.ice, "get_host_addresses", aioice.ice.get_host_addresses)


@pytest.mark.parametrize("amplitude", [0.0, 0.001, 0.03, 0.25, 0.7, 1.0])
def test_numpy_audio_level_matches_aiortc(amplitude: float) -> None:
    rng = np.random.default_rng(7)
    samples = (amplitude * 32767 * rng.uniform(-1, 1, 960)).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = 48000

    assert tuning._numpy_audio_level(frame) == rtp.compute_audio_level_dbov(frame)


def test_fixed_host_addresses_are_split_by_family() -> None:
    tuning.configure_host_addresses(["127.0.0.1", "::1", "10.1.2.3"])

    assert aioice.ice.get_host_addresses(True, False) == ["127.0.0.1", "10.1.2.3"]
    assert aioice.ice.get_host_addresses(False, True) == ["::1"]
    assert aioice.ice.get_host_addresses(True, True) == ["127.0.0.1", "::1", "10.1.2.3"]


def test_default_host_addresses_add_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tuning, "_original_get_host_addresses", lambda v4, v6: ["192.0.2.1"])
    tuning.configure_host_addresses(None)

    assert aioice.ice.get_host_addresses(True, False) == ["192.0.2.1", "127.0.0.1"]
    assert aioice.ice.get_host_addresses(False, True) == ["192.0.2.1"]


def test_shallow_jitter_buffer_caps_audio_prefetch_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(tuning._settings, "prefetch", 1)

    audio = tuning.ShallowJitterBuffer(capacity=16, prefetch=4)
    video = tuning.ShallowJitterBuffer(capacity=128, prefetch=4, is_video=True)

    assert audio._prefetch == 1
    assert video._prefetch == 4


def _audio_packet(sequence_number: int) -> RtpPacket:
    packet = RtpPacket(payload_type=111, sequence_number=sequence_number, timestamp=960 * 7)
    packet.timestamp += 960 * sequence_number
    packet._data = bytes([sequence_number])  # type: ignore[attr-defined]  # depayloaded
    return packet


def test_audio_packets_leave_as_soon_as_they_are_next_in_sequence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """aiortc released an audio packet only when the next one arrived: +20 ms on every
    packet, +400 ms on a DTX keep-alive. Each is a whole frame, so it leaves on arrival;
    after a gap the buffer waits for the missing packet, in order, as aiortc does."""
    monkeypatch.setitem(tuning._settings, "prefetch", 0)
    buffer = tuning.ShallowJitterBuffer(capacity=16, prefetch=4)

    released = [buffer.add(_audio_packet(n))[1] for n in (100, 101, 103, 102)]

    assert [f.data if f else None for f in released] == [b"d", b"e", None, b"f"]
    assert released[0] is not None and released[0].timestamp == 960 * 107
    # 103 waited behind 102; the next arrival releases it (one frame per arrival in aiortc)
    late = buffer.add(_audio_packet(104))[1]
    assert late is not None and (late.data, late.timestamp) == (b"g", 960 * 110)


async def test_data_channel_retransmission_after_the_path_is_gone_is_quiet() -> None:
    """A peer that vanished mid-send (soak: killed client): the SCTP retransmission timer fired
    after ICE had lost its pair, and aiortc's fire-and-forget `_transmit` task died with
    `ConnectionError`, logged by asyncio as "Task exception was never retrieved"."""
    tuning.apply(1, ["127.0.0.1"])
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    sender, vanisher = RTCPeerConnection(), RTCPeerConnection()
    try:
        channel = sender.createDataChannel("events")
        opened = asyncio.Event()
        channel.on("open", opened.set)
        await sender.setLocalDescription(await sender.createOffer())
        await vanisher.setRemoteDescription(sender.localDescription)
        await vanisher.setLocalDescription(await vanisher.createAnswer())
        await sender.setRemoteDescription(vanisher.localDescription)
        await asyncio.wait_for(opened.wait(), 10)
        sctp = sender.sctp
        assert sctp is not None
        vanisher_ice = vanisher.sctp.transport.transport  # type: ignore[union-attr]
        await vanisher_ice._connection.close()  # gone without a word: nothing is acknowledged
        channel.send("caption " * 50)
        await asyncio.sleep(0.05)
        assert sctp._t3_handle is not None  # the retransmission timer runs (RTO ≥ 1 s)
        # What consent expiry leaves behind: aioice has no pair to send on.
        sctp.transport.transport._connection._nominated.clear()
        await asyncio.sleep(sctp._rto + 0.7)  # the timer fires; its transmit task runs and ends
        assert sctp._t3_handle is None
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
        await sender.close()
        await vanisher.close()
    assert unhandled == []
