"""Which customer turns are worth a lookup: heuristics, then the LLM for the rest."""

from __future__ import annotations

import pytest

from voxroom.knowledge.questions import detect, heuristic_cue
from voxroom.providers.base import ProviderError

from .fakes import FakeLLM


@pytest.mark.parametrize(
    ("text", "kind", "query"),
    [
        ("When is my monthly bill due?", "question", "When is my monthly bill due?"),
        ("Hello. How do I reset my router?", "question", "How do I reset my router?"),
        ("So um I was wondering what the sports package costs", "question", None),
        ("Can my wife call you about my account", "question", None),
        ("I want to cancel my contract.", "topic", None),
        ("My connection keeps dropping every evening.", "topic", None),
        ("Hi, how are you today?", "small_talk", ""),
        ("Thank you so much for your help.", "small_talk", ""),
        ("The weather is lovely today, isn't it?", "small_talk", ""),
        ("I'm fine, thanks. Have a nice day!", "small_talk", ""),
        ("Okay.", "small_talk", ""),
        ("Yes, please do.", "other", None),
    ],
)
def test_heuristics(text: str, kind: str, query: str | None) -> None:
    cue = heuristic_cue(text)
    assert cue is not None and cue.kind == kind, cue
    assert cue.query == (text if query is None else query)


async def test_the_llm_decides_what_the_heuristics_cannot() -> None:
    text = "My router shows a red light."
    assert heuristic_cue(text) is None
    llm = FakeLLM("yes", "no")
    assert (await detect(text, llm)).kind == "topic"
    prompt = llm.requests[0].messages
    assert prompt[-1].text == text and prompt[0].role == "system"
    assert (await detect("We bought a new sofa yesterday.", llm)).kind == "other"
    assert (await detect(text)).kind == "other"  # no LLM: no lookup
    assert (await detect(text, FakeLLM(ProviderError("down")))).kind == "other"
    assert (await detect("Hi there!", llm)).by == "heuristics"
    assert len(llm.requests) == 2  # small talk never costs a model call
