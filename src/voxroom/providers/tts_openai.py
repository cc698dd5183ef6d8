"""OpenAI-compatible text-to-speech: POST /v1/audio/speech, WAV back."""

from __future__ import annotations

from collections.abc import AsyncIterator

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
        self._model = model
        self._voice = voice

    async def synthesize(self, text: str) -> AsyncIterator[SpeechAudio]:
        body = {"model": self._model, "input": text, "voice": self._voice, "response_format": "wav"}
        async with (
            self._endpoint.session() as http,
            http.post(self._endpoint.url("audio/speech"), json=body) as response,
        ):
            await self._endpoint.check(response)
            data = await response.read()
        try:
            samples, rate = parse_streamed_wav(data)
        except ValueError as exc:
            raise ProviderError(f"speech response is not 16-bit WAV: {exc}") from exc
        yield SpeechAudio(samples, rate)
