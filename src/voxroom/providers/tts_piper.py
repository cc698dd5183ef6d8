"""Piper neural TTS (onnxruntime), one chunk per sentence.

Memory: every sentence is a new input shape, and the vocoder's activations grow with the
sentence's audio (around 100 MB for a long one). With onnxruntime's defaults (a CPU memory
arena that extends by powers of two and never gives back, and a memory pattern cached per
shape) RSS ratcheted up with each longest sentence yet: +129 MB over 300 sentences, measured,
and ~250 MB above the model from the start. Both are off here, as onnxruntime's maintainers
advise for dynamic shapes (microsoft/onnxruntime#11118, #11627): activations are allocated
per run and returned (the big ones are mapped and unmapped), RSS stayed flat over the same
300 sentences, ~250 MB lower. The price is the page faults of fresh buffers: ~12 ms of CPU
for a ~100 MB sentence, a few % of its synthesis (issue 15).

Threads: onnxruntime's pool threads spin-wait between operators by default. Beside another
busy thread (the LLM's, Whisper's) they fight it for the cores: a sentence took 821 ms
against 283 ms with spinning off, and 304 against 242 ms with the machine otherwise idle
(medians of 9 sentences, measured side by side on 2 cores; issue 17). So spinning is off.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import onnxruntime
from piper import PiperVoice
from piper.config import PiperConfig

from voxroom.providers.base import TTS, ModelRunner, SpeechAudio


def load_voice(model_path: str | Path, config_path: str | Path | None = None) -> PiperVoice:
    """`PiperVoice.load` for the CPU, with the session options above."""
    config = Path(config_path or f"{model_path}.json")
    options = onnxruntime.SessionOptions()
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(
        str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    with config.open(encoding="utf-8") as file:
        return PiperVoice(session=session, config=PiperConfig.from_dict(json.load(file)))


class PiperTTS(TTS):
    name = "piper"

    def __init__(self, model_path: str | Path, config_path: str | Path | None = None) -> None:
        self._voice = load_voice(model_path, config_path)
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
