"""Synthetic user speech for tests and benchmarks: espeak-ng or Piper voices, pauses, noise."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Literal

import numpy as np

from voxroom.bench.harness import espeak_wav, trim_silence
from voxroom.media.audio import read_wav, resample

Voice = Literal["espeak", "piper"]
RATE = 16000


class SpeechMaker:
    """Makes 16 kHz mono int16 utterances, cached in `workdir`."""

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self._piper: object | None = None
        self._count = 0

    def _next_path(self, stem: str) -> Path:
        self._count += 1
        return self._workdir / f"{stem}-{self._count}.wav"

    async def say(self, text: str, voice: Voice) -> np.ndarray:
        if voice == "espeak":
            samples, rate = read_wav(espeak_wav(text, self._next_path("espeak")))
        else:
            samples, rate = await self._piper_say(text)
        return trim_silence(resample(samples, rate, RATE))

    async def _piper_say(self, text: str) -> tuple[np.ndarray, int]:
        from voxroom.providers.models import ModelCache
        from voxroom.providers.tts_piper import PiperTTS

        if self._piper is None:
            self._piper = PiperTTS(*ModelCache.piper_voice())
        assert isinstance(self._piper, PiperTTS)
        chunks = [chunk async for chunk in self._piper.synthesize(text)]
        return np.concatenate([c.samples for c in chunks]), chunks[0].sample_rate

    async def paused(self, first: str, second: str, pause_s: float, voice: Voice) -> np.ndarray:
        """`first`, a mid-sentence pause of `pause_s` seconds, then `second`."""
        head, tail = await asyncio.gather(self.say(first, voice), self.say(second, voice))
        return np.concatenate((head, silence(pause_s), tail))

    def noise_burst(self, seconds: float = 0.3, kind: str = "pinknoise") -> np.ndarray:
        """A cough-like burst made with sox (not speech, but loud and broadband)."""
        path = self._next_path("noise")
        subprocess.run(
            [
                "sox",
                "-n",
                "-r",
                str(RATE),
                "-b",
                "16",
                "-c",
                "1",
                str(path),
                "synth",
                str(seconds),
                kind,
                "fade",
                "q",
                "0.02",
                str(seconds),
                "0.1",
                "vol",
                "0.6",
            ],
            check=True,
            capture_output=True,
        )
        samples, _ = read_wav(path)
        return samples


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.int16)
