"""espeak-ng TTS: the formant-synthesizer fallback when Piper is unavailable (~20 ms a sentence).

Runs as a subprocess, so nothing blocks the event loop and no thread is needed.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator

import numpy as np

from voxroom.providers.base import TTS, ProviderError


class EspeakTTS(TTS):
    name = "espeak-ng"
    sample_rate = 22050

    def __init__(self, voice: str = "en-us", words_per_minute: int = 170) -> None:
        binary = shutil.which("espeak-ng")
        if binary is None:
            raise ProviderError("espeak-ng is not installed (apt-get install espeak-ng)")
        self._binary = binary
        self._voice = voice
        self._wpm = words_per_minute

    async def synthesize(self, text: str) -> AsyncIterator[np.ndarray]:
        process = await asyncio.create_subprocess_exec(
            self._binary,
            "-v",
            self._voice,
            "-s",
            str(self._wpm),
            "--stdout",
            text,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await process.communicate()
        if process.returncode != 0:
            raise ProviderError(f"espeak-ng failed: {stderr.decode(errors='replace').strip()}")
        # espeak-ng writes a streaming WAV header with unknown sizes; parse the data ourselves.
        samples, rate = _parse_streamed_wav(stdout)
        self.sample_rate = rate
        yield samples


def _parse_streamed_wav(data: bytes) -> tuple[np.ndarray, int]:
    marker = data.find(b"data")
    if not data.startswith(b"RIFF") or marker < 0:
        raise ProviderError("espeak-ng produced no WAV data")
    rate = int.from_bytes(data[24:28], "little")
    payload = data[marker + 8 :]
    payload = payload[: len(payload) - len(payload) % 2]
    return np.frombuffer(payload, dtype=np.int16).copy(), rate
