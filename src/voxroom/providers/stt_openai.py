"""OpenAI-compatible speech-to-text: POST /v1/audio/transcriptions (multipart WAV)."""

from __future__ import annotations

import aiohttp
import numpy as np

from voxroom.media.audio import wav_bytes
from voxroom.providers.base import STT, ProviderError, Transcript
from voxroom.providers.openai_http import OpenAIEndpoint


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
        self._model = model
        self._language = language

    async def transcribe(self, samples: np.ndarray) -> Transcript:
        form = aiohttp.FormData()
        form.add_field(
            "file",
            wav_bytes(samples, self.sample_rate),
            filename="turn.wav",
            content_type="audio/wav",
        )
        form.add_field("model", self._model)
        form.add_field("response_format", "json")
        if self._language:
            form.add_field("language", self._language)
        async with (
            self._endpoint.session() as http,
            http.post(self._endpoint.url("audio/transcriptions"), data=form) as response,
        ):
            await self._endpoint.check(response)
            body = await response.json(content_type=None)
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise ProviderError(f"transcription response has no text: {str(body)[:200]}")
        return Transcript(body["text"].strip(), self._language, samples.size / self.sample_rate)
