"""providers/resilience.py: retries, deadlines, fallback and cool-downs (fake providers)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from voxroom.providers.base import LLM, LLMRequest, ProviderError
from voxroom.providers.resilience import LLMChain, RetryPolicy, STTChain

from .fakes import FakeSTT

FAST = RetryPolicy(attempts=2, first_result_timeout_s=0.2, backoff_s=0.0, cooldown_s=0.5)


class ScriptedLLM(LLM):
    """Answers `text`, or fails ("error") or hangs ("hang"); counts its calls."""

    def __init__(self, name: str, behaviour: str, text: str = "hello") -> None:
        self.name = name
        self.behaviour = behaviour
        self.text = text
        self.calls = 0

    async def stream(self, request: LLMRequest) -> AsyncIterator[str]:
        self.calls += 1
        if self.behaviour == "error":
            raise ProviderError(f"{self.name} is down")
        if self.behaviour == "hang":
            await asyncio.sleep(3600)
        yield self.text


async def ask(chain: LLMChain) -> tuple[str, str]:
    request = LLMRequest(messages=[])
    text = "".join([delta async for delta in chain.stream(request)])
    return text, request.usage.served_by


async def test_a_failing_provider_is_retried_then_the_fallback_answers() -> None:
    remote, local = ScriptedLLM("remote", "error"), ScriptedLLM("local", "ok", "local answer")
    chain = LLMChain([remote, local], FAST)

    assert await ask(chain) == ("local answer", "local:unknown")
    assert (remote.calls, local.calls) == (2, 1)


async def test_a_hung_provider_is_not_retried_within_a_call() -> None:
    remote, local = ScriptedLLM("remote", "hang"), ScriptedLLM("local", "ok")
    chain = LLMChain([remote, local], FAST)

    assert (await ask(chain))[1] == "local:unknown"
    assert remote.calls == 1  # one deadline missed, not `attempts` of them


async def test_a_failed_provider_cools_down_for_every_later_call_then_is_tried_again() -> None:
    remote, local = ScriptedLLM("remote", "hang"), ScriptedLLM("local", "ok")
    chain = LLMChain([remote, local], FAST)

    await ask(chain)
    for _ in range(3):  # later turns (any session sharing the chain) go straight to local
        assert (await ask(chain))[1] == "local:unknown"
    assert (remote.calls, local.calls) == (1, 4)

    await asyncio.sleep(FAST.cooldown_s)
    remote.behaviour = "ok"  # it came back
    assert (await ask(chain))[1] == "remote:unknown"
    assert (await ask(chain))[1] == "remote:unknown"
    assert remote.calls == 3


async def test_when_every_provider_is_cooling_down_all_are_tried_anyway() -> None:
    first, second = ScriptedLLM("a", "error"), ScriptedLLM("b", "error")
    chain = LLMChain([first, second], FAST)
    with pytest.raises(ProviderError, match="every LLM provider failed"):
        await ask(chain)

    first.behaviour = "ok"
    assert (await ask(chain))[1] == "a:unknown"  # not "no provider available"


async def test_stt_chain_shares_the_rules() -> None:
    remote = FakeSTT(delay=3600)
    local = FakeSTT("from local")
    chain = STTChain([remote, local], FAST)
    audio = np.zeros(16000, dtype=np.int16)

    assert (await chain.transcribe(audio)).text == "from local"
    assert (await chain.transcribe(audio)).text == "from local"
    assert len(remote.calls) == 1 and len(local.calls) == 2
