"""Opus in and out on the event loop, without aiortc's per-frame thread hops.

aiortc encodes every outbound audio frame in the default executor and decodes every inbound
one on a decoder thread per receiver, each hop a queue put, a condition notify and a loop
wake-up per 20 ms per session. Profiled on 8 idle sessions (py-spy --gil), those hops were
~40 % of the time the server held the GIL, more than the codec work itself (a mono Opus frame
encodes in ~0.15 ms and decodes in ~0.03 ms). So:

- `OpusSenderTrack` encodes the paced agent audio itself, mono, and hands aiortc finished
  packets (its sender packs those inline). Silence after a short hangover is one cached
  packet: an idle agent costs no encoding at all.
- With DTX (the server's default, `transport.dtx`) an idle agent sends what libwebrtc sends
  for Opus DTX: after 200 ms of encoded silence, one header-only packet (an Opus frame of
  length 0, which decoders conceal as silence and NetEq takes as DTX) every 400 ms. That is
  5 % of the packets of a continuous silent stream, and the per-packet cost (pacing wake-up,
  RTP, SRTP, a `sendto`, the receiver's work) is most of what an idle session costs.
- `InlineAudioDecoding` stands in for a receiver's decoder queue and decodes each frame as
  it is queued, straight into the track, mono.
"""

from __future__ import annotations

import asyncio
import fractions
import threading

import numpy as np
from aiortc import MediaStreamTrack
from aiortc.codecs.base import Decoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from av import AudioFrame, CodecContext, FFmpegError, Packet
from av.frame import Frame

from voxroom.transport.webrtc.outbound import FRAME_SAMPLES, WIRE_RATE, PacedAudioTrack

OPUS_BITRATE = 96000  # aiortc's rate; mono voice at this rate is CELT-only, the cheapest mode
SILENT_FRAMES_BEFORE_CACHE = 3  # let the encoder's state decay to silence first
DTX_AFTER_SILENT_FRAMES = 10  # libwebrtc's hangover: 200 ms of silence before DTX
DTX_INTERVAL_FRAMES = 20  # one packet per 400 ms in DTX, as libopus sends them
_TIME_BASE = fractions.Fraction(1, WIRE_RATE)


class MonoOpusEncoder:
    """20 ms mono int16 frames at 48 kHz → Opus packets, silence served from a cache."""

    def __init__(self, bitrate: int = OPUS_BITRATE) -> None:
        self._codec = CodecContext.create("libopus", "w")
        self._codec.bit_rate = bitrate
        self._codec.format = "s16"
        self._codec.layout = "mono"
        self._codec.sample_rate = WIRE_RATE
        self._codec.time_base = _TIME_BASE
        self._codec.options = {"application": "voip"}
        self._silent_run = 0
        self._silence: bytes | None = None

    @property
    def in_dtx(self) -> bool:
        """Silent long enough for discontinuous transmission (the silence packet is known)."""
        return self._silence is not None and self._silent_run >= DTX_AFTER_SILENT_FRAMES

    def dtx_packet(self) -> bytes:
        """The stream's TOC byte alone (frame-count code 0): one frame of length 0."""
        assert self._silence is not None
        return bytes([self._silence[0] & 0xFC])

    def encode(self, samples: np.ndarray, silent: bool) -> bytes | None:
        """One frame's packet; None while the encoder is still buffering (its first frame)."""
        self._silent_run = self._silent_run + 1 if silent else 0
        if self._silence is not None and self._silent_run > SILENT_FRAMES_BEFORE_CACHE:
            return self._silence
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(np.ascontiguousarray(samples, dtype=np.int16).tobytes())
        frame.sample_rate = WIRE_RATE
        packets = self._codec.encode(frame)
        if not packets:
            return None
        payload = bytes(packets[-1])
        if self._silent_run > SILENT_FRAMES_BEFORE_CACHE:
            self._silence = payload  # a silent frame from a settled encoder
        return payload


class OpusSenderTrack(MediaStreamTrack):
    """What the RTP sender reads: `source`'s paced audio as ready Opus packets."""

    kind = "audio"

    def __init__(
        self,
        source: PacedAudioTrack,
        encoder: MonoOpusEncoder | None = None,
        *,
        dtx: bool = False,
        owns_source: bool = True,
    ) -> None:
        super().__init__()
        self.source = source
        self._encoder = encoder or MonoOpusEncoder()
        self._dtx = dtx
        # False: the source outlives this track (a transport that reconnects sends the same
        # voice on a new connection; aiortc stops a sender's track when it closes).
        self._owns_source = owns_source

    async def recv(self) -> Packet:  # type: ignore[type-arg]  # a Packet: aiortc packs it as is
        while True:
            if self._dtx and self._encoder.in_dtx:
                await self.source.skip_idle(DTX_INTERVAL_FRAMES - 1)
            chunk = await self.source.next_chunk()
            payload = self._encoder.encode(chunk.samples, chunk.silent)
            if payload is not None and self._dtx and self._encoder.in_dtx:
                payload = self._encoder.dtx_packet()
            if payload is not None:
                packet = Packet(payload)
                packet.pts = chunk.pts
                packet.time_base = _TIME_BASE
                return packet

    def stop(self) -> None:
        super().stop()
        if self._owns_source:
            self.source.stop()


class MonoOpusDecoder(Decoder):
    """Opus → mono s16 at 48 kHz (libopus downmixes; FFmpeg always decodes Opus at 48 kHz)."""

    def __init__(self) -> None:
        self.codec = CodecContext.create("libopus", "r")
        self.codec.format = "s16"
        self.codec.layout = "mono"
        self.codec.sample_rate = WIRE_RATE

    def decode(self, encoded_frame: JitterFrame) -> list[Frame]:
        packet = Packet(encoded_frame.data)
        packet.pts = encoded_frame.timestamp
        packet.time_base = _TIME_BASE
        return list(self.codec.decode(packet))


class InlineAudioDecoding:
    """Replaces an audio receiver's decoder queue: `put` decodes at once, on the loop.

    aiortc puts `(codec, frame)` items and a final None; decoded frames go to the track's
    queue as aiortc's decoder thread would put them (errors are flagged, not raised)."""

    def __init__(self, output: asyncio.Queue[Frame | None], decode_error: threading.Event) -> None:
        self._output = output
        self._decode_error = decode_error
        self._decoder: Decoder | None = None
        self._codec_name: str | None = None

    def put(self, task: tuple[RTCRtpCodecParameters, JitterFrame] | None) -> None:
        if task is None:
            self._output.put_nowait(None)
            return
        codec, encoded_frame = task
        if codec.name != self._codec_name:
            self._decoder = _audio_decoder(codec)
            self._codec_name = codec.name
        assert self._decoder is not None
        try:
            frames = self._decoder.decode(encoded_frame)
        except FFmpegError:  # keep the decoder: the next packet decodes (concealment)
            self._decode_error.set()
            return
        for frame in frames:
            self._output.put_nowait(frame)


def _audio_decoder(codec: RTCRtpCodecParameters) -> Decoder:
    if codec.name.lower() == "opus":
        return MonoOpusDecoder()
    from aiortc.codecs import get_decoder

    return get_decoder(codec)  # G.711: already mono
