"""Piper neural TTS (onnxruntime), one chunk per sentence."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
from piper import PiperVoice

from voxroom.providers.base import TTS, ModelRunner, SpeechAudio


class PiperTTS(TTS):
    name = "piper"

    def __init__(self, model_path: str | Path, config_path: str | Path | None = None) -> None:
        self._voice = PiperVoice.load(str(model_path), config_path=config_path)
        self.sample_rate = int(self._voice.config.sample_rate)
        self.runner = ModelRunner("tts", workers=1)

    def _chunks(self, text: str, stop: threading.Event) -> Iterator[SpeechAudio]:
        for chunk in self._voice.synthesize(text):
            if stop.is_set():
                return
            samples = np.asarray(chunk.audio_int16_array, dtype=np.int16).reshape(-1)
            yield SpeechAudio(samples, self.sample_rate)

    async def synthesize(self, text: str) -> AsyncIterator[SpeechAudio]:
        async for chunk in self.runner.iterate(lambda stop: self._chunks(text, stop)):
            yield chunk
