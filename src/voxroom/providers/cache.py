"""An opt-in response cache for frequent requests (FAQ answers, repeated agent steps).

Keyed on the full model input: the model, every message as sent, the tools offered and the
sampling parameters. Exact match is a hash of all of it. Semantic match also requires
everything but the last user message to be identical, and that message's embedding to be
within a cosine-similarity threshold of a cached one. Off by default: open conversation
should not get canned answers.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

from voxroom.providers.base import LLM, Embedder, LLMRequest

CacheMode = Literal["off", "exact", "semantic"]
LookupKind = Literal["exact", "semantic", "miss"]


@dataclass(slots=True)
class CachedAnswer:
    text: str
    stored_at: float
    context_key: str  # hash of everything but the last user message
    embedding: np.ndarray | None


def _canonical(request: LLMRequest, model: str, upto_last_user: bool) -> str:
    messages = [m.as_dict() for m in request.messages]
    if upto_last_user:
        messages = messages[:-1]
    return json.dumps(
        {
            "model": model,
            "messages": messages,
            "tools": [t.openai() for t in request.tools],
            "parameters": request.parameters(),
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class ResponseCache:
    def __init__(
        self,
        mode: CacheMode,
        *,
        embedder: Embedder | None = None,
        threshold: float = 0.92,
        capacity: int = 1024,
        ttl_s: float = 24 * 3600,
    ) -> None:
        if mode == "semantic" and embedder is None:
            raise ValueError("semantic caching needs an embedder")
        self.mode = mode
        self._embedder = embedder
        self._threshold = threshold
        self._capacity = capacity
        self._ttl_s = ttl_s
        self._entries: OrderedDict[str, CachedAnswer] = OrderedDict()

    async def lookup(self, request: LLMRequest, model: str) -> tuple[str | None, LookupKind, float]:
        """(cached text or None, "exact" | "semantic" | "miss", similarity)."""
        self._expire()
        key = _digest(_canonical(request, model, upto_last_user=False))
        if (hit := self._entries.get(key)) is not None:
            self._entries.move_to_end(key)
            return hit.text, "exact", 1.0
        if self.mode != "semantic" or self._embedder is None or not request.messages:
            return None, "miss", 0.0
        context = _digest(_canonical(request, model, upto_last_user=True))
        candidates = [
            e
            for e in self._entries.values()
            if e.context_key == context and e.embedding is not None
        ]
        if not candidates:
            return None, "miss", 0.0
        query = await self._embedder.embed(request.messages[-1].text)
        scores = np.stack([c.embedding for c in candidates if c.embedding is not None]) @ query
        best = int(np.argmax(scores))
        if float(scores[best]) >= self._threshold:
            return candidates[best].text, "semantic", float(scores[best])
        return None, "miss", float(scores[best])

    async def store(self, request: LLMRequest, model: str, text: str) -> None:
        key = _digest(_canonical(request, model, upto_last_user=False))
        embedding = None
        if self.mode == "semantic" and self._embedder is not None and request.messages:
            embedding = await self._embedder.embed(request.messages[-1].text)
        context = _digest(_canonical(request, model, upto_last_user=True))
        self._entries[key] = CachedAnswer(text, time.monotonic(), context, embedding)
        self._entries.move_to_end(key)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def _expire(self) -> None:
        cutoff = time.monotonic() - self._ttl_s
        for key in [k for k, e in self._entries.items() if e.stored_at < cutoff]:
            del self._entries[key]


class CachedLLM(LLM):
    """An LLM behind the response cache. A hit streams the stored answer at once; a miss
    streams the model and stores a complete answer (finished normally, no tool calls)."""

    def __init__(self, llm: LLM, cache: ResponseCache) -> None:
        self.inner = llm
        self.cache = cache
        self.name = llm.name
        self.model = llm.model

    async def prepare(self, request: LLMRequest) -> None:
        await self.inner.prepare(request)

    async def stream(self, request: LLMRequest) -> AsyncIterator[str]:
        started = time.monotonic()
        text, kind, similarity = await self.cache.lookup(request, self.model)
        request.usage.cache = kind
        request.usage.cache_similarity = round(similarity, 4)
        request.usage.cache_lookup_ms = round((time.monotonic() - started) * 1000, 2)
        if text is not None:
            request.usage.finish_reason = "stop"
            request.usage.served_by = f"cache:{self.model}"
            yield text
            return
        parts: list[str] = []
        async for delta in self.inner.stream(request):
            parts.append(delta)
            yield delta
        if request.usage.finish_reason != "length" and not request.usage.tool_calls:
            await self.cache.store(request, self.model, "".join(parts))
