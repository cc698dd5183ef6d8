"""Silero VAD v6 on onnxruntime (the model file ships inside faster-whisper; no torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime

from voxroom.media.audio import int16_to_float
from voxroom.providers.base import VAD, VADStream
from voxroom.providers.gathering import GatheringRunner

CONTEXT_SAMPLES = 64  # v5+ models expect the previous block's last 64 samples prepended


def packaged_silero_path() -> Path:
    import faster_whisper

    return Path(faster_whisper.__file__).parent / "assets" / "silero_vad_v6.onnx"


class SileroVAD(VAD):
    def __init__(self, model_path: str | Path | None = None) -> None:
        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            str(model_path or packaged_silero_path()),
            sess_options=options,
            providers=["CPUExecutionProvider"],
        )
        self.runner = GatheringRunner("vad")  # one thread for every session's blocks

    def create_stream(self) -> SileroStream:
        return SileroStream(self)

    def infer(
        self, block: np.ndarray, context: np.ndarray, h: np.ndarray, c: np.ndarray
    ) -> tuple[float, np.ndarray, np.ndarray]:
        window = np.concatenate((context, int16_to_float(block)))[np.newaxis, :]
        prob, h_next, c_next = self._session.run(None, {"input": window, "h": h, "c": c})
        return float(np.asarray(prob).reshape(-1)[0]), h_next, c_next


class SileroStream(VADStream):
    def __init__(self, vad: SileroVAD) -> None:
        self._vad = vad
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)

    async def probability(self, block: np.ndarray) -> float:
        if block.size != self._vad.block_size:
            raise ValueError(f"VAD blocks must be {self._vad.block_size} samples")
        prob, self._h, self._c = await self._vad.runner.run(
            self._vad.infer, block, self._context, self._h, self._c
        )
        self._context = int16_to_float(block[-CONTEXT_SAMPLES:])
        return prob
