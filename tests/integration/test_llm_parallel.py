"""The parallel llama.cpp engine with the packaged Gemma: a session's instructions read ahead
of its first question, and a short answer that ends at its line break."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from voxroom.config import ModelsConfig
from voxroom.providers.base import ChatMessage, LLMRequest
from voxroom.providers.llm_parallel import ParallelLlamaCppLLM
from voxroom.providers.models import ModelCache

PREAMBLE = [
    ChatMessage("system", "A voice assistant answers in a few words."),
    ChatMessage("user", "What is the capital of Italy?"),
    ChatMessage("assistant", "Rome."),
    ChatMessage("user", "How many fingers are on one hand?"),
    ChatMessage("assistant", "Five."),
]


@pytest.fixture(scope="module")
def llm() -> Iterator[ParallelLlamaCppLLM]:
    model = ModelCache(ModelsConfig().cache_dir).resolve_llm("gemma3-270m")
    engine = ParallelLlamaCppLLM(model, slots=2)
    yield engine
    engine.close()


def _cached(llm: ParallelLlamaCppLLM) -> list[list[int]]:
    return [list(slot.tokens) for slot in llm.engine.slots]


async def test_the_instructions_read_ahead_are_all_the_first_question_shares(
    llm: ParallelLlamaCppLLM,
) -> None:
    await llm.prepare(LLMRequest(PREAMBLE))
    read = max(_cached(llm), key=len)
    assert len(read) > 30  # the instructions and both examples, and no answer to anything

    request = LLMRequest(
        [*PREAMBLE, ChatMessage("user", "What is the capital of France?")],
        max_tokens=16,
        temperature=0.0,
    )
    text = "".join([delta async for delta in llm.stream(request)])

    assert text.strip()
    # The same sequence went on from what it had read; the other one is still empty.
    assert sorted(map(len, _cached(llm)))[0] == 0
    after = max(_cached(llm), key=len)
    assert after[: len(read)] == read and len(after) > len(read)
    # A line break ends the answer: nothing of a next line was generated.
    assert "\n" not in text and request.usage.finish_reason == "stop"
    assert request.usage.completion_tokens is not None
    assert request.usage.completion_tokens <= len(text.split()) + 4


async def test_a_long_prompt_is_read_in_small_chunks_while_a_reply_generates(
    llm: ParallelLlamaCppLLM,
) -> None:
    engine = llm.engine
    steps: list[int] = []
    decode = engine._ctx.decode

    def recorded(batch: object) -> None:
        steps.append(engine._batch.batch.n_tokens)
        decode(batch)  # type: ignore[arg-type]

    engine._ctx.decode = recorded  # type: ignore[method-assign]
    try:
        story = LLMRequest(
            [ChatMessage("user", "Count from one to forty in words, on one line.")],
            max_tokens=40,
            temperature=0.0,
        )
        long_prompt = [
            ChatMessage("user", f"Fact {i}: the number {i} is a number.") for i in range(40)
        ]
        question = LLMRequest(
            [*long_prompt, ChatMessage("user", "What is two plus two?")], max_tokens=4
        )

        generating = asyncio.Event()

        async def reply() -> None:
            async for _ in llm.stream(story):
                generating.set()

        async def ask() -> None:
            await generating.wait()
            async for _ in llm.stream(question):
                break

        await asyncio.gather(reply(), ask())
    finally:
        engine._ctx.decode = decode  # type: ignore[method-assign]

    # The story's prompt went in whole (it was alone); the question's ~500 tokens went in
    # beside the story's tokens, 32 at a time (1 story token + 32).
    assert max(steps[:2]) > 10
    assert sum(1 for n in steps if n == 33) >= 3
    assert max(steps[2:]) <= 128
