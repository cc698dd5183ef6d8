"""Mono int16 PCM helpers: conversion from decoded WebRTC frames, resampling, levels, slicing."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soxr
from av import AudioFrame

INT16_MAX = 32767


def frame_to_mono(frame: AudioFrame) -> np.ndarray:
    """Decoded frame (any layout aiortc produces) → mono int16 samples at the frame's rate."""
    channels = len(frame.layout.channels)
    if channels == 1 and frame.format.name == "s16":  # what our Opus decoder gives: 3 vs 14 µs
        plane = memoryview(frame.planes[0])
        return np.frombuffer(plane, dtype=np.int16, count=frame.samples).copy()
    data = frame.to_ndarray()
    if frame.format.is_planar:
        mixed = data.astype(np.float32).mean(axis=0) if channels > 1 else data[0]
    else:
        interleaved = data.reshape(-1, channels)
        mixed = interleaved.astype(np.float32).mean(axis=1) if channels > 1 else interleaved[:, 0]
    if frame.format.name in ("flt", "fltp", "dbl", "dblp"):
        return float_to_int16(np.asarray(mixed, dtype=np.float32))
    return np.asarray(mixed).astype(np.int16)


def float_to_int16(samples: np.ndarray) -> np.ndarray:
    """[-1, 1] floats → int16, NaN/inf-safe and clipped (garbage audio must not crash or wrap)."""
    clean = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
    scaled: np.ndarray = np.clip(clean, -1.0, 1.0) * INT16_MAX
    return scaled.astype(np.int16)


def int16_to_float(samples: np.ndarray) -> np.ndarray:
    return samples.astype(np.float32) / 32768.0


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level of int16 samples in dBFS (-inf for digital silence is clamped to -127)."""
    if samples.size == 0:
        return -127.0
    as_float = samples.astype(np.float32) / 32768.0
    rms = float(np.sqrt(np.mean(as_float * as_float)))
    return max(-127.0, 20.0 * np.log10(rms)) if rms > 0 else -127.0


def audio_level_dbov(samples: np.ndarray) -> int:
    """RFC 6465 audio level in dBov, -127 (silence) … 0 (full scale), as aiortc computes it."""
    return min(0, round(rms_dbfs(samples)))


class StreamResampler:
    """Chunk-by-chunk resampler (soxr keeps filter state between calls, so no edge clicks)."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream = (
            None if in_rate == out_rate else soxr.ResampleStream(in_rate, out_rate, 1, "int16")
        )

    def process(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        if self._stream is None:
            return samples
        return np.asarray(self._stream.resample_chunk(samples, last=last), dtype=np.int16)


def resample(samples: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """One-shot resampling of a whole int16 buffer."""
    if in_rate == out_rate or samples.size == 0:
        return samples
    return np.asarray(soxr.resample(samples, in_rate, out_rate), dtype=np.int16)


class BlockSlicer:
    """Collects variable-size chunks and yields fixed-size blocks (e.g. 512 samples for VAD)."""

    def __init__(self, block_size: int) -> None:
        self.block_size = block_size
        self._pending = np.zeros(0, dtype=np.int16)

    def push(self, samples: np.ndarray) -> Iterator[np.ndarray]:
        buffered = np.concatenate((self._pending, samples)) if self._pending.size else samples
        whole = (buffered.size // self.block_size) * self.block_size
        for start in range(0, whole, self.block_size):
            yield buffered[start : start + self.block_size]
        self._pending = buffered[whole:].copy()


def read_wav(source: str | Path | io.BytesIO) -> tuple[np.ndarray, int]:
    """A 16-bit PCM WAV (path or in-memory) → (mono int16 samples, sample_rate)."""
    handle = source if isinstance(source, io.BytesIO) else str(source)
    with wave.open(handle, "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError("only 16-bit PCM WAV is supported")
        rate = wav.getframerate()
        channels = wav.getnchannels()
        raw = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    if channels > 1:
        raw = raw.reshape(-1, channels).astype(np.float32).mean(axis=1).astype(np.int16)
    return raw, rate


def parse_streamed_wav(data: bytes) -> tuple[np.ndarray, int]:
    """16-bit PCM WAV bytes whose header sizes may be unknown (streamed by espeak-ng or an HTTP
    TTS) → (mono int16 samples, rate). Sizes in the header are ignored: the data runs to the end."""
    marker = data.find(b"data")
    if not data.startswith(b"RIFF") or data[8:12] != b"WAVE" or marker < 0:
        raise ValueError("not a WAV stream")
    channels = int.from_bytes(data[22:24], "little") or 1
    rate = int.from_bytes(data[24:28], "little")
    if int.from_bytes(data[34:36], "little") != 16:
        raise ValueError("only 16-bit PCM WAV is supported")
    payload = data[marker + 8 :]
    payload = payload[: len(payload) - len(payload) % (2 * channels)]
    samples = np.frombuffer(payload, dtype=np.int16)
    if channels > 1:
        samples = samples.reshape(-1, channels).astype(np.float32).mean(axis=1).astype(np.int16)
    return samples.copy(), rate


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """Mono int16 samples → a WAV file in memory."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(samples.astype(np.int16).tobytes())
    return buffer.getvalue()
