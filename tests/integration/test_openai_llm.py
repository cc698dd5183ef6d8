"""The OpenAI-compatible LLM provider against a real `python -m llama_cpp.server` on loopback
(serving the packaged Gemma), its fallback chain, and what a session does when all fail."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from voxroom.agent.voice import APOLOGY
from voxroom.bench.harness import free_port, start_server, stop_server
from voxroom.client import VoxroomClient
from voxroom.config import ModelsConfig
from voxroom.providers.base import ChatMessage, LLMRequest, ProviderError
from voxroom.providers.llm_openai import OpenAICompatibleLLM
from voxroom.providers.models import ModelCache
from voxroom.providers.resilience import LLMChain, RetryPolicy

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    model = ModelCache(ModelsConfig().cache_dir).resolve_llm("gemma3-270m")
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "1024",
        "--n_threads",
        "2",
        "--model_alias",
        "gemma",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=1):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"llama_cpp.server did not start:\n{log.read_text()}")
            time.sleep(0.3)
    yield url
    process.terminate()
    process.wait(timeout=15)


def _request() -> LLMRequest:
    return LLMRequest(
        messages=[
            ChatMessage("system", "Answer in one short sentence."),
            ChatMessage("user", "What is the capital of Italy?"),
        ],
        max_tokens=24,
    )


async def test_streams_text_and_usage_from_llama_cpp_server(llama_server: str) -> None:
    llm = OpenAICompatibleLLM(llama_server, model="gemma", timeout_s=120)
    request = _request()
    deltas = [delta async for delta in llm.stream(request)]
    assert len(deltas) > 1, deltas  # streamed, not one blob
    assert "".join(deltas).strip()
    assert request.usage.finish_reason in ("stop", "length")


async def test_chain_falls_back_from_a_dead_endpoint(llama_server: str) -> None:
    dead = OpenAICompatibleLLM(f"http://127.0.0.1:{free_port()}/v1", model="gemma")
    live = OpenAICompatibleLLM(llama_server, model="gemma", timeout_s=120)
    chain = LLMChain([dead, live], RetryPolicy(attempts=2, first_result_timeout_s=120))
    request = _request()
    text = "".join([delta async for delta in chain.stream(request)])
    assert text.strip()
    assert request.usage.served_by == f"{live.name}:gemma"


async def test_chain_reports_every_failure_when_all_are_down() -> None:
    dead = [OpenAICompatibleLLM(f"http://127.0.0.1:{free_port()}/v1") for _ in range(2)]
    chain = LLMChain(dead, RetryPolicy(attempts=1, backoff_s=0))
    with pytest.raises(ProviderError, match="every LLM provider failed") as caught:
        _ = [delta async for delta in chain.stream(_request())]
    assert str(caught.value).count("attempt 1") == 2


async def test_session_apologises_and_lives_when_every_llm_fails(tmp_path: Path) -> None:
    process, url = start_server(tmp_path / "dev.log", "--llm", f"http://127.0.0.1:{free_port()}/v1")
    client = VoxroomClient(url)
    try:
        await client.connect()
        for turn in (1, 2):
            client.send({"type": "chat", "text": f"Question number {turn}?"})
            error = await client.wait_for(
                lambda m: m.get("type") == "error", 60, after=time.monotonic()
            )
            assert "every LLM provider failed" in error["message"]
            apology = await client.wait_for(
                lambda m: (
                    m.get("type") == "transcript"
                    and m["role"] == "agent"
                    and m["final"]
                    and m["text"] == APOLOGY
                ),
                60,
            )
            assert apology["interrupted"] is False
        assert client.received.speech_seconds_between(0) > 1.0  # the apology was spoken
    finally:
        await client.close()
        stop_server(process)
