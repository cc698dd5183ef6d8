"""agent/policy.py: when the agent speaks in a call."""

from __future__ import annotations

import pytest

from voxroom.agent.policy import Addressed, TurnFacts, make_policy


def turn(text: str, speaker: str = "ann", at: float = 100.0, **kw: object) -> TurnFacts:
    facts = {"source": "voice", "explicit": False, **kw}
    return TurnFacts(text=text, speaker=speaker, started_at=at, **facts)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "addressed"),
    [
        ("Nova, what time is it?", True),
        ("what time is it, nova", True),
        ("Is Nova's answer right?", True),
        ("Hey assistant, help me.", True),
        ("My assistant is on holiday.", True),  # a wake phrase anywhere counts
        ("Supernova is a word.", False),
        ("What time is it?", False),
        ("hey voxroom assistant", True),
        ("", False),
    ],
)
def test_the_agent_is_addressed_by_its_name_or_a_wake_phrase(text: str, addressed: bool) -> None:
    policy = Addressed(["Nova", "assistant", "voxroom assistant"])
    assert policy.should_answer(turn(text)) is addressed


def test_a_follow_up_counts_only_from_the_person_answered_and_only_shortly_after() -> None:
    policy = Addressed(["Nova"], follow_up_s=8.0)
    policy.replied("ann", "It is nine.", ended_at=100.0)

    assert policy.should_answer(turn("And tomorrow?", "ann", at=104.0))
    assert not policy.should_answer(turn("And tomorrow?", "bob", at=104.0))
    assert not policy.should_answer(turn("And tomorrow?", "ann", at=109.0))


def test_an_answer_to_the_agents_question_is_answered_from_anyone() -> None:
    policy = Addressed(["Nova"])
    policy.replied("ann", "Which city do you mean?", ended_at=100.0)

    assert policy.should_answer(turn("Lisbon.", "bob", at=102.0))


def test_typed_and_push_to_talk_turns_are_aimed_at_the_agent() -> None:
    policy = Addressed(["Nova"])

    assert policy.should_answer(turn("hello", source="chat"))
    assert policy.should_answer(turn("hello", explicit=True))


def test_policies_by_name() -> None:
    assert make_policy("always", []).should_answer(turn("anything"))
    assert not make_policy("silent", []).should_answer(turn("Nova?", source="chat"))
    push = make_policy("push_to_talk", [])
    assert not push.should_answer(turn("Nova, hi"))
    assert push.should_answer(turn("hi", explicit=True))
