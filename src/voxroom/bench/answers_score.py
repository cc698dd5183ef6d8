"""How `voxroom bench answers` scores: right answers, repeated replies, tool calls.

- A reply is right when it contains one of the question's accepted answers as whole words,
  after both are normalized (case, punctuation, number words as digits: "seven" = "7").
- `repeat_rate`: the share of a session's replies identical (normalized) to an earlier one.
- Tool calls: a call is asked for when the turn asks for that tool (`tool_precision` counts
  the calls that were; `tool_recall` the turns asking for a call that got it); a spoken
  answer matches the tool's result when every number it says is in the result and it says
  at least one of the result's numbers or words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from voxroom.agent.words import FILLER, normalize


def is_right(reply: str, accept: Iterable[str]) -> bool:
    """Does `reply` contain one of the accepted answers (whole words; a plural "s" allowed)?"""
    said = f" {normalize(reply)} "
    for answer in accept:
        wanted = normalize(answer)
        if re.search(rf" {re.escape(wanted)}(?:s|es)? ", said):
            return True
    return False


def repeat_rate(replies: Sequence[str]) -> float:
    """The share of replies identical (normalized) to an earlier reply in the same session."""
    seen: set[str] = set()
    repeats = 0
    for reply in replies:
        key = normalize(reply)
        repeats += key in seen
        seen.add(key)
    return repeats / len(replies) if replies else 0.0


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """One tool-bench turn: what it asked for and what happened."""

    asked: str | None  # the tool the user's words ask for (None: an answer in words)
    called: tuple[str, ...]  # tools that ran (in order)
    results: tuple[str, ...]  # their outputs
    reply: str  # what the agent said


@dataclass(frozen=True, slots=True)
class ToolScores:
    precision: float
    recall: float
    answer_matches_result: float
    calls: int
    asked: int
    answered_with_result: int


def tool_scores(outcomes: Sequence[ToolOutcome]) -> ToolScores:
    calls = [(o.asked, name) for o in outcomes for name in o.called]
    asked_for = sum(1 for asked, name in calls if asked == name)
    asking = [o for o in outcomes if o.asked is not None]
    recalled = sum(1 for o in asking if o.asked in o.called)
    with_result = [o for o in outcomes if o.results]
    matching = sum(1 for o in with_result if answer_matches(o.reply, o.results[-1]))
    return ToolScores(
        precision=asked_for / len(calls) if calls else 1.0,
        recall=recalled / len(asking) if asking else 1.0,
        answer_matches_result=matching / len(with_result) if with_result else 1.0,
        calls=len(calls),
        asked=len(asking),
        answered_with_result=len(with_result),
    )


def answer_matches(reply: str, result: str) -> bool:
    """Every number the reply says is in the tool's result, and it says at least one number
    or word of it ("booked for 7 pm" vs "Taxi booked for 7 pm to the airport")."""
    said, known = normalize(reply).split(), normalize(result).split()
    if not said:
        return False
    numbers = {w for w in known if w.isdigit()}
    if any(w.isdigit() and w not in numbers for w in said):
        return False
    shared = (set(said) & set(known)) - FILLER
    return bool(shared)
