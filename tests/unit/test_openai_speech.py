"""OpenAI-compatible STT/TTS providers: what they must not send, and how they fail.

Against nothing (a closed loopback port) or a socket that accepts and never answers: the
real-server tests are in tests/integration/test_openai_speech.py."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator

import numpy as np
import pytest

from voxroom.bench.harness import free_port
from voxroom.providers.base import ProviderError
from voxroom.providers.stt_openai import OpenAICompatibleSTT
from voxroom.providers.tts_openai import OpenAICompatibleTTS


def _dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """Accepts connections and reads requests but never answers (a hung backend)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read(1 << 20)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/v1"
    for writer in held:
        writer.close()
    server.close()


async def test_stt_sends_no_request_for_audio_under_100_ms() -> None:
    # OpenAI rejects audio under 0.1 s with a 400, which would cost a retry and a fallback
    # per VAD blip; the local Whisper returns "" for it without decoding.
    stt = OpenAICompatibleSTT(_dead_url())
    transcript = await stt.transcribe(np.zeros(1599, dtype=np.int16))
    assert transcript.text == ""
    assert transcript.audio_seconds == pytest.approx(1599 / 16000)


async def test_tts_sends_no_request_for_blank_text() -> None:
    # Servers reject an empty `input` with a 400; local Piper speaks nothing for it.
    tts = OpenAICompatibleTTS(_dead_url())
    assert [chunk async for chunk in tts.synthesize(" \n ")] == []


async def test_unreachable_endpoint_is_a_provider_error_naming_it() -> None:
    url = _dead_url()
    with pytest.raises(ProviderError, match=re.escape(url)):
        await OpenAICompatibleSTT(url).transcribe(np.zeros(16000, dtype=np.int16))
    with pytest.raises(ProviderError, match=re.escape(url)):
        _ = [chunk async for chunk in OpenAICompatibleTTS(url).synthesize("Hello.")]


async def test_hung_endpoint_times_out_with_a_provider_error(silent_server: str) -> None:
    stt = OpenAICompatibleSTT(silent_server, timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(
        ProviderError,
        match=re.escape(f"{silent_server}/audio/transcriptions did not answer within 0.5 s"),
    ):
        await stt.transcribe(np.zeros(16000, dtype=np.int16))
    assert time.monotonic() - started < 3
    tts = OpenAICompatibleTTS(silent_server, timeout_s=0.5)
    with pytest.raises(
        ProviderError, match=re.escape(f"{silent_server}/audio/speech did not answer")
    ):
        _ = [chunk async for chunk in tts.synthesize("Hello.")]
