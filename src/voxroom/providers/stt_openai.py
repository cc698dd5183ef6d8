"""OpenAI-compatible speech-to-text: POST /v1/audio/transcriptions (multipart WAV), and
/v1/audio/translations (any language → English).

Tested against a real faster-whisper-server (tests/integration/test_openai_speech.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Sequence

import aiohttp
import numpy as np

from voxroom.media.audio import wav_bytes
from voxroom.providers.base import STT, ProviderError, Transcript
from voxroom.providers.openai_http import OpenAIEndpoint

# OpenAI answers a 400 ("Audio file is too short") under 0.1 s; the local Whisper returns ""
# for it without decoding. Sending it would cost a failed request, a retry and a fallback.
MIN_AUDIO_S = 0.1


class OpenAICompatibleSTT(STT):
    name = "openai-stt"

    def __init__(
        self,
        base_url: str,
        *,
        model: str = "whisper-1",
        api_key: str | None = None,
        language: str | None = "en",
        timeout_s: float = 30.0,
    ) -> None:
        self._endpoint = OpenAIEndpoint(base_url, api_key=api_key, timeout_s=timeout_s)
        self._timeout_s = timeout_s
        self._model = model
        self._language = language

    async def transcribe(
        self,
        samples: np.ndarray,
        hints: Sequence[str] = (),
        language: str | None = None,
        *,
        english: bool = False,
    ) -> Transcript:
        language = language or self._language
        heard = self._post("audio/transcriptions", samples, hints, language)
        if not english or language == "en":
            transcript = await heard
            return (
                dataclasses.replace(transcript, english=transcript.text) if english else transcript
            )
        # Both requests at once: the endpoint does the work in parallel, if it can.
        transcript, translation = await asyncio.gather(heard, self.translate(samples, language))
        return dataclasses.replace(transcript, english=translation.text)

    async def translate(self, samples: np.ndarray, language: str | None = None) -> Transcript:
        # OpenAI's translations take no `language`: the model detects it.
        return await self._post("audio/translations", samples, (), None, heard=language)

    async def _post(
        self,
        path: str,
        samples: np.ndarray,
        hints: Sequence[str],
        language: str | None,
        heard: str | None = None,
    ) -> Transcript:
        seconds = samples.size / self.sample_rate
        heard = heard or language
        if seconds < MIN_AUDIO_S:
            return Transcript("", heard, seconds)
        form = aiohttp.FormData()
        form.add_field(
            "file",
            wav_bytes(samples, self.sample_rate),
            filename="turn.wav",
            content_type="audio/wav",
        )
        form.add_field("model", self._model)
        form.add_field("response_format", "json")
        if language:
            form.add_field("language", language)
        if hints:  # OpenAI's `prompt`: spellings the model should expect
            form.add_field("prompt", ", ".join(hints))
        url = self._endpoint.url(path)
        # Transport failures become ProviderErrors naming the endpoint: a bare TimeoutError()
        # in the session's error event did not say which backend hung.
        try:
            async with (
                self._endpoint.session() as http,
                http.post(url, data=form) as response,
            ):
                await self._endpoint.check(response)
                body = await response.json(content_type=None)
        except TimeoutError as exc:
            raise ProviderError(f"{url} did not answer within {self._timeout_s:g} s") from exc
        except aiohttp.ClientError as exc:
            raise ProviderError(f"{url} failed: {exc!r}") from exc
        except json.JSONDecodeError as exc:
            raise ProviderError(f"{url} answered with no JSON: {exc}") from exc
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise ProviderError(f"transcription response has no text: {str(body)[:200]}")
        return Transcript(body["text"].strip(), heard, seconds)
