"""The opt-in response cache: exact and semantic (real all-MiniLM-L6-v2) hits and misses,
keyed on the full model input, and audited through the session's events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from voxroom.providers.base import LLM, ChatMessage, LLMRequest
from voxroom.providers.cache import CachedLLM, ResponseCache
from voxroom.providers.embed_minilm import MiniLMEmbedder

SYSTEM = ChatMessage("system", "You are the Harbor Hotel's concierge.")


class CountingLLM(LLM):
    """A fake LLM that counts calls (the cache's logic is what is under test here)."""

    name, model = "counting", "m1"

    def __init__(self) -> None:
        self.calls = 0

    async def stream(self, request: LLMRequest) -> AsyncIterator[str]:
        self.calls += 1
        request.usage.finish_reason = "stop"
        yield f"Answer {self.calls} "
        yield "to: " + request.messages[-1].text


def ask(text: str, system: ChatMessage = SYSTEM, temperature: float = 0.6) -> LLMRequest:
    return LLMRequest([system, ChatMessage("user", text)], temperature=temperature)


async def answer(llm: LLM, request: LLMRequest) -> str:
    return "".join([d async for d in llm.stream(request)])


async def test_exact_cache_hits_only_on_the_identical_input() -> None:
    inner = CountingLLM()
    llm = CachedLLM(inner, ResponseCache("exact"))
    first = ask("When is breakfast?")
    assert await answer(llm, first) == "Answer 1 to: When is breakfast?"
    assert first.usage.cache == "miss"
    again = ask("When is breakfast?")
    assert await answer(llm, again) == "Answer 1 to: When is breakfast?"
    assert again.usage.cache == "exact" and inner.calls == 1
    # Any difference in the model input is a different key.
    for other in (
        ask("When is breakfast ?"),
        ask("When is breakfast?", temperature=0.1),
        ask("When is breakfast?", ChatMessage("system", "Be terse.")),
    ):
        await answer(llm, other)
        assert other.usage.cache == "miss"
    assert inner.calls == 4


async def test_cache_is_bounded_and_expires() -> None:
    cache = ResponseCache("exact", capacity=2, ttl_s=0.05)
    llm = CachedLLM(CountingLLM(), cache)
    for text in ("a?", "b?", "c?"):
        await answer(llm, ask(text))
    oldest = ask("a?")
    await answer(llm, oldest)
    assert oldest.usage.cache == "miss"  # evicted
    await asyncio.sleep(0.06)
    late = ask("c?")
    await answer(llm, late)
    assert late.usage.cache == "miss"  # expired


async def test_truncated_answers_are_not_cached() -> None:
    class Truncating(CountingLLM):
        async def stream(self, request: LLMRequest) -> AsyncIterator[str]:
            request.usage.finish_reason = "length"
            yield "cut"

    llm = CachedLLM(Truncating(), ResponseCache("exact"))
    await answer(llm, ask("q?"))
    again = ask("q?")
    await answer(llm, again)
    assert again.usage.cache == "miss"


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


async def test_semantic_cache_with_real_embeddings(embedder: MiniLMEmbedder) -> None:
    inner = CountingLLM()
    llm = CachedLLM(inner, ResponseCache("semantic", embedder=embedder, threshold=0.8))
    await answer(llm, ask("What time is breakfast served?"))
    paraphrase = ask("When is breakfast served?")
    assert await answer(llm, paraphrase) == "Answer 1 to: What time is breakfast served?"
    assert paraphrase.usage.cache == "semantic"
    assert paraphrase.usage.cache_similarity is not None and paraphrase.usage.cache_similarity > 0.8
    unrelated = ask("Can you book me a taxi to the airport?")
    await answer(llm, unrelated)
    assert unrelated.usage.cache == "miss" and inner.calls == 2
    # Same question in another context (different instructions): never served from the cache.
    elsewhere = ask("When is breakfast served?", ChatMessage("system", "You run a hostel."))
    await answer(llm, elsewhere)
    assert elsewhere.usage.cache == "miss"
