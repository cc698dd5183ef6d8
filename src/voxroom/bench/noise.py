"""The load clients' microphone: quiet noise in a loop, its Opus packets encoded once."""

from __future__ import annotations

import numpy as np

from voxroom.transport.webrtc.opus import MonoOpusEncoder
from voxroom.transport.webrtc.outbound import FRAME_SAMPLES

NOISE_DBFS = -60.0  # "silence" as a quiet room sends it: far below any VAD threshold


def noise_loop(dbfs: float, seconds: float = 1.0, seed: int = 7) -> np.ndarray:
    rms = 32768.0 * 10 ** (dbfs / 20)
    noise = np.random.default_rng(seed).normal(0.0, rms, int(48000 * seconds))
    return np.clip(noise, -32768, 32767).astype(np.int16)


class RepeatingFramesEncoder(MonoOpusEncoder):
    """Encodes the noise loop's frames once, then sends those packets whenever the same
    frame comes round again (anything else, such as speech, is encoded as usual).

    The load clients share the server's two cores, and a noise frame took 195 µs to encode:
    ~1 % of a core per session, spent by the load rather than the system under test."""

    def __init__(self, loop: np.ndarray) -> None:
        super().__init__()
        frames = [
            loop[start : start + FRAME_SAMPLES]
            for start in range(0, loop.size - FRAME_SAMPLES + 1, FRAME_SAMPLES)
        ]
        self._packets: dict[bytes, bytes] = {}
        warm = MonoOpusEncoder()
        for _ in range(2):  # the second pass: packets from an encoder inside the loop
            for frame in frames:
                payload = warm.encode(frame, silent=False)
                if payload is not None:
                    self._packets[frame.tobytes()] = payload

    def encode(self, samples: np.ndarray, silent: bool) -> bytes | None:
        packet = None if silent else self._packets.get(samples.tobytes())
        return packet if packet is not None else super().encode(samples, silent)
