"""Process-wide aiortc/aioice adjustments. All transport tuning lives here and nowhere else.

- Host candidates: aioice skips 127.0.0.1, so a loopback-only host or a container gathers no
  candidate and the connection hangs in `new`. We choose the address list.
- Receive delay: aiortc builds every audio receiver with a jitter buffer prefetching 4 packets
  (~80 ms), and even with no prefetch it releases a packet only when the next one arrives
  (+20 ms; with DTX, +400 ms). The receiver constructs the class by module name, so a
  shallower one is swapped in: with prefetch 0 (the default) an audio packet, a whole frame
  in itself, leaves as soon as it is next in sequence. A voice agent does not play what it
  receives, so it has no jitter to smooth, only latency to add.
- Video delay: aiortc releases a video frame only when the next frame's first packet arrives
  (one frame interval per hop); frames now leave when their last (marker) packet is in:
  camera → annotated frame p50 ≈165 → ≈40 ms on loopback.
- CPU: aiortc computes the RTP audio-level header with a Python loop over every sample sent;
  the numpy equivalent costs a fraction (see shared/WEBRTC.md).
- CPU: audio receivers decode on the loop (`opus.InlineAudioDecoding`) instead of a thread
  per receiver fed through a queue (see `opus` for the profile that justified it).
- Threads: PyAV feeds every Opus encoder through an FFmpeg filter graph (libopus takes fixed
  960-sample frames), and each graph starts a slice-thread pool sized by the CPU count: two
  idle threads per session here. Audio graphs never use them; FFmpeg is told it has one CPU.
- Vanished peers: SCTP's retransmission timer starts `_transmit` as a task nobody awaits; when
  the path is already gone (consent expired, DTLS closed) it died with `ConnectionError` and
  asyncio logged "Task exception was never retrieved" (errors in the soak). There is nobody to
  send to and the connection is being torn down, so that error ends the task quietly.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import threading

import aioice.ice
import aiortc.rtcpeerconnection
import aiortc.rtcrtpreceiver
import aiortc.rtcsctptransport
import aiortc.rtp
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpReceiveParameters
from av import AudioFrame

from voxroom.media.audio import audio_level_dbov
from voxroom.transport.webrtc.opus import InlineAudioDecoding
from voxroom.transport.webrtc.video import MarkerJitterBuffer

log = logging.getLogger(__name__)
_settings = {"prefetch": 0}
_original_get_host_addresses = aioice.ice.get_host_addresses


def all_addresses_with_loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    addresses = _original_get_host_addresses(use_ipv4, use_ipv6)
    if use_ipv4 and "127.0.0.1" not in addresses:
        addresses.append("127.0.0.1")
    return addresses


def configure_host_addresses(addresses: list[str] | None) -> None:
    """Gather candidates only on `addresses` (None: every interface plus 127.0.0.1)."""
    if addresses is None:
        aioice.ice.get_host_addresses = all_addresses_with_loopback
        return
    fixed = list(addresses)

    def chosen(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in fixed if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = chosen


class ShallowJitterBuffer(MarkerJitterBuffer):
    def __init__(self, capacity: int, prefetch: int = 0, is_video: bool = False) -> None:
        if not is_video:
            prefetch = min(prefetch, _settings["prefetch"])
        super().__init__(capacity, prefetch=prefetch, is_video=is_video)

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        if self._is_video or self._prefetch > 0:
            return super()._remove_frame(sequence_number)
        assert self._origin is not None  # add() sets it before asking for a frame
        packet = self._packets[self._origin % self.capacity]
        if packet is None:  # the next in sequence is missing: wait, as aiortc does
            return None
        self.remove(1)
        return JitterFrame(data=packet._data, timestamp=packet.timestamp)  # type: ignore[attr-defined]


def _numpy_audio_level(frame: AudioFrame) -> int:
    return audio_level_dbov(frame.to_ndarray().reshape(-1))


class InlineDecodingReceiver(aiortc.rtcrtpreceiver.RTCRtpReceiver):
    """An RTCRtpReceiver whose audio is decoded on the loop as it is queued (no thread)."""

    async def receive(self, parameters: RTCRtpReceiveParameters) -> None:
        # The track exists by now (the peer connection sets it after construction).
        queue = self._RTCRtpReceiver__decoder_queue  # type: ignore[has-type]  # aiortc 1.16
        track = self._track
        if (
            track is not None
            and track.kind == "audio"
            and not isinstance(queue, InlineAudioDecoding)
        ):
            error = self._RTCRtpReceiver__decoder_error  # type: ignore[attr-defined]
            self._RTCRtpReceiver__decoder_queue = InlineAudioDecoding(track._queue, error)
        await super().receive(parameters)


_original_decoder_worker = aiortc.rtcrtpreceiver.decoder_worker


def _decoder_worker(
    loop: asyncio.AbstractEventLoop,
    input_q: object,
    output_q: asyncio.Queue[object],  # aiortc's own signature
    decode_error: threading.Event,
) -> None:
    # aiortc still starts its thread for every receiver; with inline decoding it just exits.
    if not isinstance(input_q, InlineAudioDecoding):
        _original_decoder_worker(loop, input_q, output_q, decode_error)  # type: ignore[arg-type]


_original_sctp_transmit = aiortc.rtcsctptransport.RTCSctpTransport._transmit


async def _sctp_transmit(self: aiortc.rtcsctptransport.RTCSctpTransport) -> None:
    try:
        await _original_sctp_transmit(self)
    except ConnectionError as error:
        log.debug("SCTP transmit after the path closed: %s", error)


def single_threaded_ffmpeg() -> None:
    """av_cpu_force_count(1) in the libavutil this process loaded (PyAV's bundled copy, or the
    system's), so filter graphs and codecs start no thread pools of their own. Without
    /proc (not Linux) FFmpeg keeps its defaults."""
    try:
        with open("/proc/self/maps") as maps:
            loaded = {line.split()[-1] for line in maps if "libavutil" in line}
    except OSError:
        return
    for path in loaded:
        ctypes.CDLL(path).av_cpu_force_count(1)


def apply(jitter_prefetch: int, host_addresses: list[str] | None) -> None:
    _settings["prefetch"] = jitter_prefetch
    single_threaded_ffmpeg()
    configure_host_addresses(host_addresses)
    aiortc.rtcrtpreceiver.JitterBuffer = ShallowJitterBuffer  # type: ignore[attr-defined]
    aiortc.rtp.compute_audio_level_dbov = _numpy_audio_level  # the sender calls rtp.<name>
    aiortc.rtcrtpreceiver.decoder_worker = _decoder_worker
    aiortc.rtcsctptransport.RTCSctpTransport._transmit = _sctp_transmit  # type: ignore[method-assign]
    aiortc.rtcpeerconnection.RTCRtpReceiver = InlineDecodingReceiver  # type: ignore[attr-defined]
