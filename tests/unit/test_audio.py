"""media/audio.py: frame conversion, levels, resampling, slicing, WAV I/O."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from voxroom.media.audio import (
    BlockSlicer,
    StreamResampler,
    audio_level_dbov,
    float_to_int16,
    frame_to_mono,
    int16_to_float,
    parse_streamed_wav,
    read_wav,
    resample,
    rms_dbfs,
    wav_bytes,
)

from .fakes import tone


def sine(seconds: float, rate: int, freq: float = 440.0, amplitude: float = 1.0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return np.round(amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


# --- frame_to_mono -----------------------------------------------------------------------
def test_frame_to_mono_averages_s16_packed_stereo() -> None:
    left = np.array([1000, -2000, 30000, 0], dtype=np.int16)
    right = np.array([3000, 2000, 30000, -32768], dtype=np.int16)
    interleaved = np.stack([left, right], axis=1).reshape(1, -1)  # L R L R ...
    frame = av.AudioFrame.from_ndarray(interleaved, format="s16", layout="stereo")
    frame.sample_rate = 48000

    mono = frame_to_mono(frame)

    assert mono.dtype == np.int16
    assert mono.tolist() == [2000, 0, 30000, -16384]


def test_frame_to_mono_keeps_s16_mono_samples_unchanged() -> None:
    samples = np.array([[5, -5, 32767, -32768]], dtype=np.int16)
    frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")

    assert frame_to_mono(frame).tolist() == [5, -5, 32767, -32768]


def test_frame_to_mono_mixes_fltp_planar_stereo_and_scales_to_int16() -> None:
    left = np.array([0.5, -1.0, 1.0, 0.0], dtype=np.float32)
    right = np.array([0.5, -1.0, 0.0, 0.0], dtype=np.float32)
    frame = av.AudioFrame.from_ndarray(np.stack([left, right]), format="fltp", layout="stereo")

    mono = frame_to_mono(frame)

    assert mono.dtype == np.int16
    np.testing.assert_array_equal(mono, [16383, -32767, 16383, 0])


def test_frame_to_mono_survives_nan_in_float_frames() -> None:
    planes = np.array([[np.nan, 2.0, -np.inf], [np.nan, 2.0, -np.inf]], dtype=np.float32)
    frame = av.AudioFrame.from_ndarray(planes, format="fltp", layout="stereo")

    np.testing.assert_array_equal(frame_to_mono(frame), [0, 32767, -32767])


# --- float_to_int16 ----------------------------------------------------------------------
def test_float_to_int16_maps_nan_to_zero_and_inf_to_full_scale() -> None:
    samples = np.array([np.nan, np.inf, -np.inf], dtype=np.float32)

    assert float_to_int16(samples).tolist() == [0, 32767, -32767]


def test_float_to_int16_clips_instead_of_wrapping() -> None:
    samples = np.array([1.5, -7.0, 1.0, -1.0, 0.5, 0.0], dtype=np.float32)

    out = float_to_int16(samples)

    assert out.dtype == np.int16
    assert out.tolist() == [32767, -32767, 32767, -32767, 16383, 0]


def test_int16_float_round_trip_is_close() -> None:
    samples = sine(0.01, 16000, amplitude=0.8)

    back = float_to_int16(int16_to_float(samples))

    assert np.max(np.abs(back.astype(np.int32) - samples)) <= 2


# --- levels ------------------------------------------------------------------------------
@pytest.mark.parametrize("silence", [np.zeros(960, np.int16), np.zeros(0, np.int16)])
def test_silence_and_empty_input_are_minus_127(silence: np.ndarray) -> None:
    assert rms_dbfs(silence) == -127.0
    assert audio_level_dbov(silence) == -127


def test_full_scale_sine_is_about_minus_3_db() -> None:
    samples = sine(0.1, 48000, freq=1000.0)

    assert rms_dbfs(samples) == pytest.approx(-3.01, abs=0.05)
    assert audio_level_dbov(samples) == -3


def test_level_follows_amplitude_and_never_exceeds_zero() -> None:
    quiet = sine(0.1, 48000, amplitude=0.01)  # -40 dB below the full-scale sine
    square = np.where(np.arange(960) % 2 == 0, 32767, -32768).astype(np.int16)

    assert rms_dbfs(quiet) == pytest.approx(-43.0, abs=0.1)
    assert audio_level_dbov(square) == 0
    assert rms_dbfs(np.ones(960, np.int16)) == pytest.approx(-90.3, abs=0.1)


# --- resampling --------------------------------------------------------------------------
def test_stream_resampler_chunked_48k_to_16k_matches_one_shot() -> None:
    source = sine(1.0, 48000, freq=300.0, amplitude=0.5)
    resampler = StreamResampler(48000, 16000)

    pieces = [resampler.process(source[i : i + 960]) for i in range(0, source.size, 960)]
    pieces.append(resampler.process(np.zeros(0, np.int16), last=True))
    chunked = np.concatenate(pieces)
    whole = resample(source, 48000, 16000)

    assert chunked.dtype == np.int16
    assert abs(chunked.size - 16000) <= 2
    assert abs(whole.size - 16000) <= 2
    n = min(chunked.size, whole.size)
    # Same signal (not shifted, not scaled): compare the settled middle part.
    middle = slice(200, n - 200)
    diff = chunked[:n][middle].astype(np.int32) - whole[:n][middle].astype(np.int32)
    assert np.max(np.abs(diff)) < 200
    assert rms_dbfs(chunked) == pytest.approx(rms_dbfs(source), abs=0.2)


def test_stream_resampler_emits_audio_progressively_not_only_at_the_end() -> None:
    resampler = StreamResampler(48000, 16000)
    source = sine(0.2, 48000, amplitude=0.5)

    first = [resampler.process(source[i : i + 960]).size for i in range(0, source.size, 960)]

    assert sum(first) > 0.8 * source.size / 3  # streaming: only the filter delay is held back


def test_stream_resampler_is_a_pass_through_at_equal_rates() -> None:
    samples = sine(0.01, 16000)

    assert StreamResampler(16000, 16000).process(samples) is samples
    assert resample(samples, 16000, 16000) is samples


def test_one_shot_resample_of_22050_to_48000_has_the_expected_length() -> None:
    out = resample(tone(0.1, 22050), 22050, 48000)

    assert out.dtype == np.int16
    assert out.size == 4800


# --- BlockSlicer -------------------------------------------------------------------------
def test_block_slicer_yields_exact_blocks_and_carries_the_remainder() -> None:
    slicer = BlockSlicer(512)
    stream = np.arange(2000, dtype=np.int16)

    first = list(slicer.push(stream[:1000]))
    second = list(slicer.push(stream[1000:1020]))
    third = list(slicer.push(stream[1020:2000]))

    assert [b.size for b in first] == [512]
    assert second == []  # 488 + 20 < 512
    assert [b.size for b in third] == [512, 512]
    np.testing.assert_array_equal(np.concatenate(first + third), stream[:1536])
    # The 464-sample tail waits for more audio.
    (fourth,) = list(slicer.push(np.arange(2000, 2048, dtype=np.int16)))
    np.testing.assert_array_equal(fourth, np.arange(1536, 2048, dtype=np.int16))


def test_block_slicer_blocks_do_not_alias_the_carried_remainder() -> None:
    slicer = BlockSlicer(4)
    chunk = np.arange(6, dtype=np.int16)
    list(slicer.push(chunk))
    chunk[4:] = 99  # the caller reuses its buffer

    (block,) = list(slicer.push(np.array([6, 7], dtype=np.int16)))

    assert block.tolist() == [4, 5, 6, 7]


# --- WAV ---------------------------------------------------------------------------------
def test_wav_bytes_and_read_wav_round_trip_in_memory() -> None:
    samples = sine(0.05, 16000, amplitude=0.7)

    data = wav_bytes(samples, 16000)
    back, rate = read_wav(io.BytesIO(data))

    assert data[:4] == b"RIFF"
    assert rate == 16000
    np.testing.assert_array_equal(back, samples)


def test_read_wav_from_path_mixes_stereo_to_mono(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    frames = np.array([[100, 300], [-100, -300], [0, 2]], dtype=np.int16)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(frames.tobytes())

    samples, rate = read_wav(path)

    assert rate == 8000
    assert samples.tolist() == [200, -200, 1]


def test_read_wav_rejects_8_bit_audio() -> None:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(8000)
        wav.writeframes(bytes(16))
    buffer.seek(0)

    with pytest.raises(ValueError, match="16-bit"):
        read_wav(buffer)


def streamed(samples: np.ndarray, rate: int, channels: int = 1) -> bytes:
    """A WAV as a streaming writer sends it: sizes unknown (0xFFFFFFFF) in the header."""
    data = wav_bytes(samples, rate)
    header = bytearray(data[:44])
    header[4:8] = b"\xff\xff\xff\xff"
    header[40:44] = b"\xff\xff\xff\xff"
    header[22:24] = channels.to_bytes(2, "little")
    return bytes(header) + data[44:]


def test_parse_streamed_wav_ignores_unknown_sizes() -> None:
    samples = sine(0.02, 22050, amplitude=0.5)

    parsed, rate = parse_streamed_wav(streamed(samples, 22050))

    assert rate == 22050
    np.testing.assert_array_equal(parsed, samples)
    assert parsed.flags.writeable  # a copy, not a view of the network buffer


def test_parse_streamed_wav_drops_a_partial_trailing_sample() -> None:
    samples = np.array([1, 2, 3], dtype=np.int16)

    parsed, _ = parse_streamed_wav(streamed(samples, 16000) + b"\x07")

    assert parsed.tolist() == [1, 2, 3]


def test_parse_streamed_wav_mixes_stereo() -> None:
    interleaved = np.array([100, 300, -100, -300], dtype=np.int16)

    parsed, _ = parse_streamed_wav(streamed(interleaved, 16000, channels=2) + b"\x01\x02")

    assert parsed.tolist() == [200, -200]


def test_parse_streamed_wav_rejects_non_wav_and_non_16_bit() -> None:
    eight_bit = bytearray(streamed(np.zeros(4, np.int16), 8000))
    eight_bit[34:36] = (8).to_bytes(2, "little")

    with pytest.raises(ValueError, match="not a WAV"):
        parse_streamed_wav(b"ID3\x04 this is an mp3")
    with pytest.raises(ValueError, match="16-bit"):
        parse_streamed_wav(bytes(eight_bit))
