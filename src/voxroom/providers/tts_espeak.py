"""espeak-ng TTS: the formant-synthesizer fallback when Piper is unavailable (~20 ms a sentence).

Runs as a subprocess, so nothing blocks the event loop and no thread is needed.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator

from voxroom.media.audio import parse_streamed_wav
from voxroom.providers.base import TTS, ProviderError, SpeechAudio


class EspeakTTS(TTS):
    name = "espeak-ng"

    def __init__(self, voice: str = "en-us", words_per_minute: int = 170) -> None:
        binary = shutil.which("espeak-ng")
        if binary is None:
            raise ProviderError("espeak-ng is not installed (apt-get install espeak-ng)")
        self._binary = binary
        self._voice = voice
        self._wpm = words_per_minute

    async def synthesize(self, text: str) -> AsyncIterator[SpeechAudio]:
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
        try:
            samples, rate = parse_streamed_wav(stdout)
        except ValueError as exc:
            raise ProviderError(f"espeak-ng: {exc}") from exc
        yield SpeechAudio(samples, rate)
