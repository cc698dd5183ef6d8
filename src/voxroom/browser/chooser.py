"""Who answers the multiple-choice question: an LLM (any `providers` LLM: the packaged Gemma,
a local GGUF, an OpenAI-compatible endpoint) or a script (the benchmark's oracle, tests)."""

from __future__ import annotations

import asyncio
import inspect
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from voxroom.browser.prompt import Question, messages
from voxroom.providers.base import LLM, ChatMessage, LLMRequest, LLMUsage


@dataclass(slots=True)
class Reply:
    raw: str
    messages: list[ChatMessage] = field(default_factory=list)  # empty for a script
    usage: LLMUsage = field(default_factory=LLMUsage)
    provider: str = ""
    model: str = ""
    duration_ms: float = 0.0
    ttft_ms: float | None = None
    error: str | None = None


class Chooser(ABC):
    name = "chooser"
    vision = False  # wants the page's screenshot with each question

    @abstractmethod
    async def answer(self, question: Question) -> Reply: ...


class LLMChooser(Chooser):
    name = "llm"

    def __init__(
        self,
        llm: LLM,
        *,
        vision: bool = False,
        max_tokens: int = 24,
        temperature: float = 0.0,
        timeout_s: float = 60.0,
    ) -> None:
        self.llm = llm
        self.vision = vision
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.timeout_s = timeout_s

    async def answer(self, question: Question) -> Reply:
        prompt = messages(question)
        # One line is the whole answer: stopping at the newline keeps small models from
        # rambling into an imagined next step.
        request = LLMRequest(
            prompt, max_tokens=self.max_tokens, temperature=self.temperature, stop=["\n"]
        )
        started = time.monotonic()
        first: float | None = None
        parts: list[str] = []
        error = None
        try:
            async with asyncio.timeout(self.timeout_s):
                async for delta in self.llm.stream(request):
                    first = first or time.monotonic()
                    parts.append(delta)
        except Exception as exc:  # a failed or slow model is a failed step, not a crash
            error = f"{type(exc).__name__}: {exc}"[:300]
        served = (request.usage.served_by or "").partition(":")
        return Reply(
            raw="".join(parts),
            messages=prompt,
            usage=request.usage,
            provider=served[0] or self.llm.name,
            model=served[2] or self.llm.model,
            duration_ms=round((time.monotonic() - started) * 1e3, 1),
            ttft_ms=round((first - started) * 1e3, 1) if first else None,
            error=error,
        )


Script = Callable[[Question], Awaitable[str] | str]


class ScriptedChooser(Chooser):
    """Answers with `script(question)`: the text goes through the same parsing as a model's."""

    name = "scripted"

    def __init__(self, script: Script) -> None:
        self._script = script

    async def answer(self, question: Question) -> Reply:
        started = time.monotonic()
        answered = self._script(question)
        raw = await answered if inspect.isawaitable(answered) else answered
        return Reply(raw=str(raw), duration_ms=round((time.monotonic() - started) * 1e3, 1))
