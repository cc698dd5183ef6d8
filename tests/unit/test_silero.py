"""providers/silero.py: Silero v6 with every session's blocks as one batch."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import onnx
import pytest

from voxroom.bench.harness import espeak_wav
from voxroom.media.audio import read_wav, resample
from voxroom.providers.silero import SileroVAD, batched_silero_graph, packaged_silero_path

BLOCK = 512
STREAMS = 4


@pytest.fixture(scope="module")
def streams(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    """Speech at a different onset in each stream, then quiet noise: blocks whose
    probabilities rise and fall, so any mixing of states between streams would show."""
    path = espeak_wav("Hello there, how are you?", tmp_path_factory.mktemp("vad") / "s.wav")
    samples, rate = read_wav(path)
    speech = resample(samples, rate, 16000)
    rng = np.random.default_rng(7)
    out = []
    for index in range(STREAMS):
        lead = np.zeros(index * 3000, dtype=np.int16)
        noise = (rng.standard_normal(16000) * 30).astype(np.int16)
        stream = np.concatenate((lead, speech, noise))
        out.append(stream[: (stream.size // BLOCK) * BLOCK])
    return out


async def _probabilities(vad: SileroVAD, audio: np.ndarray) -> list[float]:
    stream = vad.create_stream()
    return [await stream.probability(block) for block in audio.reshape(-1, BLOCK)]


def _unbatchable_copy(directory: Path) -> Path:
    model = onnx.load(str(packaged_silero_path()))
    for node in model.graph.node:
        if node.name == "/Transpose":
            node.name = "/Renamed"  # same computation, a graph this code does not know
    path = directory / "silero_renamed.onnx"
    onnx.save(model, str(path))
    return path


async def test_streams_in_one_batch_match_each_run_alone(
    streams: list[np.ndarray], tmp_path: Path
) -> None:
    vad = SileroVAD()
    assert vad.batches_streams
    # Reference: the graph as shipped (falls back to one block per model call).
    alone = SileroVAD(_unbatchable_copy(tmp_path))
    assert not alone.batches_streams
    expected = [await _probabilities(alone, audio) for audio in streams]

    together = await asyncio.gather(*(_probabilities(vad, audio) for audio in streams))

    assert vad.runner.batches < vad.runner.calls  # blocks of several streams shared a run
    for got, want in zip(together, expected, strict=True):
        assert np.allclose(got, want, atol=1e-4), np.abs(np.subtract(got, want)).max()
        assert max(want) > 0.9 and want[-1] < 0.1  # speech heard, and its end


def test_unknown_graphs_are_left_alone() -> None:
    model = onnx.load(str(packaged_silero_path()))
    assert batched_silero_graph(model) is not None
    for node in model.graph.node:
        if node.name == "/Transpose":
            del node.attribute[0].ints[:]
            node.attribute[0].ints.extend([2, 0, 1])  # already batched: not the known graph
    assert batched_silero_graph(model) is None


async def test_blocks_under_the_floor_are_silence_without_a_model_run(
    streams: list[np.ndarray],
) -> None:
    rng = np.random.default_rng(3)
    quiet = (rng.standard_normal(BLOCK * 30) * 40).astype(np.int16)  # about -58 dBFS
    floored, model_only = SileroVAD(), SileroVAD(floor_dbfs=None)

    assert await _probabilities(floored, quiet) == [0.0] * 30
    assert floored.runner.calls == 0
    assert max(await _probabilities(model_only, quiet)) < 0.1  # what the model says anyway

    # Speech after the quiet stretch is heard as the model alone hears it.
    audio = np.concatenate((quiet, streams[0]))
    got = np.array(await _probabilities(floored, audio)) > 0.5
    want = np.array(await _probabilities(model_only, audio)) > 0.5
    assert got.any() and np.argmax(got) == np.argmax(want)
    assert (got == want).mean() >= 0.95
