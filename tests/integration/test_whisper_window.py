"""providers/whisper.py on the packaged model: the fitted encoder window hears what the full
30 s window hears, and the inputs it does not fit go to faster-whisper's own path."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from voxroom.bench.harness import espeak_wav, trim_silence
from voxroom.config import ModelsConfig
from voxroom.media.audio import read_wav, resample
from voxroom.providers.models import ModelCache
from voxroom.providers.whisper import MIN_WINDOW_S, WhisperSTT, window_frames

pytestmark = pytest.mark.slow

QUESTIONS = [
    "What is the capital of Germany?",
    "I would like to cancel my subscription.",
    "Please send the invoice to my email address.",
]


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


def _speech(text: str, path: Path, voice: str = "en-us") -> np.ndarray:
    samples, rate = read_wav(espeak_wav(text, path, voice=voice))
    return resample(trim_silence(samples), rate, 16000)


class CountingTranscribe:
    """Wraps faster-whisper's own `transcribe` to count the calls that reach it."""

    def __init__(self, stt: WhisperSTT) -> None:
        self.calls = 0
        self._inner = stt._model.transcribe

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self._inner(*args, **kwargs)


@pytest.fixture(scope="module")
def model_dir() -> str:
    return ModelCache(ModelsConfig().cache_dir).resolve_stt("whisper-base")


@pytest.fixture(scope="module")
def fitted(model_dir: str) -> WhisperSTT:
    return WhisperSTT(model_dir)


def test_window_fits_the_utterance() -> None:
    assert window_frames(2.0, 100) == MIN_WINDOW_S * 100
    assert window_frames(12.3, 100) == 1330  # the audio and a second of padding
    assert window_frames(29.5, 100) is None  # Whisper's own 30 s window and long-form loop


async def test_fitted_window_hears_what_the_full_window_hears(
    model_dir: str, fitted: WhisperSTT, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = WhisperSTT(model_dir, fitted_window=False)
    counter = CountingTranscribe(fitted)
    monkeypatch.setattr(fitted._model, "transcribe", counter)
    for index, question in enumerate(QUESTIONS):
        audio = _speech(question, tmp_path / f"q{index}.wav")
        heard = await fitted.transcribe(audio)
        reference = await full.transcribe(audio)
        assert heard.language == "en" and heard.avg_logprob is not None
        # espeak-ng speech is not always heard word for word, by either window.
        missed = _words(question) - _words(heard.text)
        assert len(missed) <= 1, (question, heard.text, reference.text)
        assert len(_words(heard.text) ^ _words(reference.text)) <= 2, (heard, reference)
    assert counter.calls == 0  # every one of them decoded in the fitted window


async def test_silence_and_noise_give_no_words(fitted: WhisperSTT) -> None:
    rng = np.random.default_rng(7)
    noise = rng.normal(0, 3000, 32000).astype(np.int16)
    hum = (3000 * np.sin(2 * np.pi * 100 * np.arange(32000) / 16000)).astype(np.int16)
    assert (await fitted.transcribe(noise)).text == ""
    assert (await fitted.transcribe(hum)).text == ""


async def test_audio_longer_than_the_window_uses_whisper_long_form(
    fitted: WhisperSTT, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sentence = _speech("I would like to cancel my subscription.", tmp_path / "long.wav")
    last = _speech("Thank you and goodbye, see you next winter.", tmp_path / "last.wav")
    gap = np.zeros(8000, np.int16)
    audio = np.concatenate([*[np.concatenate([sentence, gap])] * 12, last])
    assert audio.size / 16000 > 32
    counter = CountingTranscribe(fitted)
    monkeypatch.setattr(fitted._model, "transcribe", counter)
    heard = await fitted.transcribe(audio)
    assert counter.calls == 1
    assert "cancel" in _words(heard.text)
    assert {"goodbye", "winter"} <= _words(heard.text), heard.text  # past the first 30 s


async def test_translation_detects_the_language_in_the_fitted_window(
    model_dir: str, tmp_path: Path
) -> None:
    # One model, both tasks: the configured language ("en") is for transcripts only.
    whisper = WhisperSTT(model_dir, language="en")
    audio = _speech("Wo ist der Bahnhof? Ich habe meinen Zug verpasst.", tmp_path / "de.wav", "de")
    heard = await whisper.translate(audio)
    assert heard.language == "de"
    assert {"where", "train"} <= _words(heard.text), heard.text
    named = await whisper.translate(audio, language="de")
    assert {"where", "train"} <= _words(named.text), named.text
    original = await whisper.transcribe(audio, language="de")
    assert original.language == "de" and original.english is None
    assert {"bahnhof", "zug"} <= _words(original.text), original.text
    # Both in one pass (one encoding of the audio): the transcript and its English.
    both = await whisper.transcribe(audio, language="de", english=True)
    assert both.text == original.text
    assert both.english is not None and {"where", "train"} <= _words(both.english), both.english
    english = _speech("Where is the station?", tmp_path / "en.wav")
    spoken = await whisper.transcribe(english, english=True)
    assert spoken.english == spoken.text  # English is not translated again
