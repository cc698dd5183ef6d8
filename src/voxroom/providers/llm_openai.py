"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp server), streamed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from voxroom.providers.base import LLM, LLMRequest, ProviderError
from voxroom.providers.openai_http import OpenAIEndpoint


class OpenAICompatibleLLM(LLM):
    name = "openai-compatible"

    def __init__(
        self,
        base_url: str,
        *,
        model: str = "default",
        api_key: str | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self._endpoint = OpenAIEndpoint(base_url, api_key=api_key, timeout_s=timeout_s)
        self.model = model

    def _body(self, request: LLMRequest) -> dict[str, object]:
        return {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
            **({"stop": request.stop} if request.stop else {}),
        }

    async def stream(self, request: LLMRequest) -> AsyncIterator[str]:
        url = self._endpoint.url("chat/completions")
        async with (
            self._endpoint.session() as http,
            http.post(url, json=self._body(request)) as response,
        ):
            await self._endpoint.check(response)
            async for raw_line in response.content:
                line = raw_line.decode(errors="replace").strip()
                if not line.startswith("data:"):
                    continue
                payload = line[len("data:") :].strip()
                if payload == "[DONE]":
                    return
                try:
                    chunk = json.loads(payload)
                    choices = chunk.get("choices") or [{}]
                except (json.JSONDecodeError, AttributeError) as exc:
                    raise ProviderError(f"malformed stream chunk: {payload[:200]}") from exc
                if usage := chunk.get("usage"):
                    request.usage.prompt_tokens = usage.get("prompt_tokens")
                    request.usage.completion_tokens = usage.get("completion_tokens")
                if (reason := choices[0].get("finish_reason")) in ("stop", "length"):
                    request.usage.finish_reason = reason
                if text := (choices[0].get("delta") or {}).get("content"):
                    yield str(text)
