"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp server), streamed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from voxroom.providers.base import LLM, ChatMessage, LLMRequest, ProviderError, ToolCall
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
            "messages": [_wire_message(m) for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
            **({"stop": request.stop} if request.stop else {}),
            **({"tools": [t.openai() for t in request.tools]} if request.tools else {}),
        }

    async def stream(self, request: LLMRequest) -> AsyncIterator[str]:
        url = self._endpoint.url("chat/completions")
        calls = _StreamedCalls()
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
                delta = choices[0].get("delta") or {}
                for part in delta.get("tool_calls") or []:
                    calls.add(part)
                if text := delta.get("content"):
                    yield str(text)
        request.usage.tool_calls.extend(calls.complete())


def _wire_message(message: ChatMessage) -> dict[str, Any]:
    # OpenAI's `name` field allows no spaces: a group call's speaker goes in the text.
    content = message.content
    if message.speaker and isinstance(content, str):
        content = f"{message.speaker}: {content}"
    elif message.speaker:
        content = [{"type": "text", "text": f"{message.speaker}:"}, *content]
    wire: dict[str, Any] = {"role": message.role, "content": content}
    if message.tool_calls:
        wire["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    if message.tool_call_id:
        wire["tool_call_id"] = message.tool_call_id
    return wire


class _StreamedCalls:
    """Tool calls arrive in pieces keyed by index (id and name first, arguments in chunks)."""

    def __init__(self) -> None:
        self._parts: dict[int, dict[str, str]] = {}

    def add(self, part: dict[str, Any]) -> None:
        slot = self._parts.setdefault(int(part.get("index", 0)), {"id": "", "name": "", "args": ""})
        function = part.get("function") or {}
        slot["id"] = part.get("id") or slot["id"]
        slot["name"] += function.get("name") or ""
        slot["args"] += function.get("arguments") or ""

    def complete(self) -> list[ToolCall]:
        return [
            ToolCall(slot["id"] or f"call_{index}", slot["name"], slot["args"] or "{}")
            for index, slot in sorted(self._parts.items())
            if slot["name"]
        ]
