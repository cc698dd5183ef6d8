"""OpenAI-compatible text-to-speech: POST /v1/audio/speech, WAV back.

Tested against a real local-tts-studio serving the packaged Piper voice
(tests/integration/test_openai_speech.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp

from voxroom.media.audio import parse_streamed_wav
from voxroom.providers.base import TTS, ProviderError, SpeechAudio
from voxroom.providers.openai_http import OpenAIEndpoint


class OpenAICompatibleTTS(TTS):
    name = "openai-tts"

    def __init__(
        self,
        base_url: str,
        *,
        model: str = "tts-1",
        voice: str = "alloy",
        api_key: str | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self._endpoint = OpenAIEndpoint(base_url, api_key=api_key, timeout_s=timeout_s)
        self._timeout_s = timeout_s
        self._model = model
        self._voice = voice

    async def synthesize(self, text: str) -> AsyncIterator[SpeechAudio]:
        if not text.strip():
            # Servers answer a blank `input` with a 400 (a retry and a fallback for nothing);
            # local Piper speaks nothing for it either.
            return
        body = {"model": self._model, "input": text, "voice": self._voice, "response_format": "wav"}
        url = self._endpoint.url("audio/speech")
        # Transport failures become ProviderErrors naming the endpoint: a bare TimeoutError()
        # in the session's error event did not say which backend hung.
        try:
            async with (
                self._endpoint.session() as http,
                http.post(url, json=body) as response,
            ):
                await self._endpoint.check(response)
                data = await response.read()
        except TimeoutError as exc:
            raise ProviderError(f"{url} did not answer within {self._timeout_s:g} s") from exc
        except aiohttp.ClientError as exc:
            raise ProviderError(f"{url} failed: {exc!r}") from exc
        try:
            samples, rate = parse_streamed_wav(data)
        except ValueError as exc:
            raise ProviderError(f"speech response is not 16-bit WAV: {exc}") from exc
        yield SpeechAudio(samples, rate)
