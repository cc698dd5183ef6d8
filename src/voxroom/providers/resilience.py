"""Timeouts, retries and fallback chains: once, for every provider kind.

A chain tries each provider in order (e.g. remote → local), each up to `attempts` times, with
a deadline on the first result (first token, first audio chunk, the transcript). Once a
stream has started it is not switched mid-way: a later failure surfaces to the session.

Two rules keep a hung or dead remote from taxing every turn:
- a provider that missed the deadline is not retried in the same call (it is hung, not
  flaky: a retry would only double the wait before the fallback answers);
- a provider that failed a call is skipped for `cooldown_s` by every later call of the chain
  (all sessions share it), then tried again; if every provider is cooling down, all are tried.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import aiohttp
import numpy as np

from voxroom.providers.base import (
    LLM,
    STT,
    TTS,
    LLMRequest,
    ProviderError,
    SpeechAudio,
    Transcript,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
P = TypeVar("P")

# What a failing backend raises: our own errors, timeouts, network and OS errors.
FAILURES = (ProviderError, TimeoutError, aiohttp.ClientError, OSError, ValueError)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 2  # per provider
    first_result_timeout_s: float = 15.0
    backoff_s: float = 0.2
    cooldown_s: float = 30.0  # a provider that failed a call is skipped this long


class Cooldowns:
    """When each provider of a chain may be tried again after failing (monotonic time)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._until: dict[int, float] = {}

    def order(self, chain: Sequence[P]) -> list[P]:
        """The providers to try now, in chain order; every one if all are cooling down."""
        now = time.monotonic()
        ready = [p for p in chain if self._until.get(id(p), 0.0) <= now]
        return ready or list(chain)

    def failed(self, provider: object) -> None:
        self._until[id(provider)] = time.monotonic() + self.seconds

    def succeeded(self, provider: object) -> None:
        self._until.pop(id(provider), None)


async def _first_of(
    chain: Sequence[P],
    policy: RetryPolicy,
    start: Callable[[P], AsyncIterator[T]],
    kind: str,
    cooldowns: Cooldowns,
) -> tuple[P, T | None, AsyncIterator[T]]:
    """The first provider (in order, with retries) whose stream yields in time."""
    errors: list[str] = []
    for provider in cooldowns.order(chain):
        for attempt in range(1, policy.attempts + 1):
            stream = start(provider)
            try:
                first = await asyncio.wait_for(anext(stream), policy.first_result_timeout_s)
                cooldowns.succeeded(provider)
                return provider, first, stream
            except StopAsyncIteration:
                cooldowns.succeeded(provider)
                return provider, None, stream
            except FAILURES as exc:
                reason = f"{getattr(provider, 'name', provider)} attempt {attempt}: {exc!r}"
                log.warning("%s provider failed: %s", kind, reason)
                errors.append(reason)
                await _close(stream)
                if isinstance(exc, TimeoutError):
                    break  # hung: go to the next provider now
                await asyncio.sleep(policy.backoff_s * attempt)
        cooldowns.failed(provider)
    raise ProviderError(f"every {kind} provider failed: " + "; ".join(errors))


async def _close(stream: AsyncIterator[T]) -> None:
    closer = getattr(stream, "aclose", None)
    if closer is not None:
        try:
            await closer()
        except FAILURES:
            pass


async def _stream_chain(
    chain: Sequence[P],
    policy: RetryPolicy,
    start: Callable[[P], AsyncIterator[T]],
    kind: str,
    cooldowns: Cooldowns,
    on_serving: Callable[[P], None] | None = None,
) -> AsyncIterator[T]:
    provider, first, stream = await _first_of(chain, policy, start, kind, cooldowns)
    if on_serving:
        on_serving(provider)
    if first is None:
        return
    yield first
    async for item in stream:
        yield item


class LLMChain(LLM):
    def __init__(self, chain: Sequence[LLM], policy: RetryPolicy | None = None) -> None:
        if not chain:
            raise ValueError("an LLM chain needs at least one provider")
        self.chain = list(chain)
        self.policy = policy or RetryPolicy()
        self.cooldowns = Cooldowns(self.policy.cooldown_s)
        self.name = "+".join(p.name for p in self.chain)
        self.model = self.chain[0].model

    def stream(self, request: LLMRequest) -> AsyncIterator[str]:
        def served(provider: LLM) -> None:
            request.usage.served_by = f"{provider.name}:{provider.model}"

        return _stream_chain(
            self.chain, self.policy, lambda p: p.stream(request), "LLM", self.cooldowns, served
        )

    async def prepare(self, request: LLMRequest) -> None:
        await self.chain[0].prepare(request)  # the one that answers while it works


class TTSChain(TTS):
    def __init__(self, chain: Sequence[TTS], policy: RetryPolicy | None = None) -> None:
        if not chain:
            raise ValueError("a TTS chain needs at least one provider")
        self.chain = list(chain)
        self.policy = policy or RetryPolicy(first_result_timeout_s=10.0)
        self.cooldowns = Cooldowns(self.policy.cooldown_s)
        self.name = "+".join(p.name for p in self.chain)

    def synthesize(self, text: str) -> AsyncIterator[SpeechAudio]:
        return _stream_chain(
            self.chain, self.policy, lambda p: self._named(p, text), "TTS", self.cooldowns
        )

    @staticmethod
    async def _named(provider: TTS, text: str) -> AsyncIterator[SpeechAudio]:
        async for chunk in provider.synthesize(text):
            yield chunk if chunk.provider else dataclasses.replace(chunk, provider=provider.name)


class STTChain(STT):
    def __init__(self, chain: Sequence[STT], policy: RetryPolicy | None = None) -> None:
        if not chain:
            raise ValueError("an STT chain needs at least one provider")
        self.chain = list(chain)
        self.policy = policy or RetryPolicy(first_result_timeout_s=20.0)
        self.cooldowns = Cooldowns(self.policy.cooldown_s)
        self.name = "+".join(p.name for p in self.chain)

    @property
    def idle(self) -> bool:
        return all(p.idle for p in self.chain)

    async def transcribe(
        self,
        samples: np.ndarray,
        hints: Sequence[str] = (),
        language: str | None = None,
        *,
        english: bool = False,
    ) -> Transcript:
        return await self._first(
            self.chain, lambda p: p.transcribe(samples, hints, language, english=english)
        )

    async def translate(self, samples: np.ndarray, language: str | None = None) -> Transcript:
        # Only the backends that translate; none: the base class's ProviderError.
        able = [p for p in self.chain if type(p).translate is not STT.translate]
        if not able:
            return await super().translate(samples, language)
        return await self._first(able, lambda p: p.translate(samples, language))

    async def _first(
        self, chain: list[STT], call: Callable[[STT], Awaitable[Transcript]]
    ) -> Transcript:
        async def once(provider: STT) -> AsyncIterator[Transcript]:
            yield await call(provider)

        provider, transcript, _ = await _first_of(chain, self.policy, once, "STT", self.cooldowns)
        assert transcript is not None
        return dataclasses.replace(transcript, provider=transcript.provider or provider.name)
