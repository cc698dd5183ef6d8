"""One step's decision, SeeAct-style: rank the page's elements against the task, then ask the
chooser about the best `top_k` as a multiple-choice question; "none of these" shows the next
`top_k`, up to `max_rounds` questions. Used by the agent's task loop and by the benchmark."""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from voxroom.browser.actions import Action
from voxroom.browser.chooser import Chooser, Reply
from voxroom.browser.elements import PageElement, PageState
from voxroom.browser.parsing import Answer, parse_answer
from voxroom.browser.prompt import Question
from voxroom.browser.ranking import Ranked, Ranker, rank_query


@dataclass(frozen=True, slots=True)
class ChoiceSettings:
    top_k: int = 8  # options per question (plus "none of these")
    max_rounds: int = 3  # questions per step before giving up on the candidates


@dataclass(slots=True)
class Round:
    question: Question
    reply: Reply
    answer: Answer

    def record(self) -> dict[str, Any]:
        """For the audit trail: the options by letter, the answer and how it was read."""
        return {
            "options": {letter: element.id for letter, element in self.question.lettered()},
            "question": self.question.text(),
            "raw_output": self.reply.raw,
            "problems": list(self.answer.problems),
            "error": self.reply.error,
        }


@dataclass(slots=True)
class Decision:
    action: Action | None  # None: no usable answer this step
    element: PageElement | None
    ranked: list[Ranked]
    rounds: list[Round] = field(default_factory=list)
    rank_ms: float = 0.0
    choose_ms: float = 0.0

    @property
    def problems(self) -> list[str]:
        return [p for r in self.rounds for p in r.answer.problems] + [
            r.reply.error for r in self.rounds if r.reply.error
        ]


async def decide(
    task: str,
    history: Sequence[str],
    state: PageState,
    ranker: Ranker,
    chooser: Chooser,
    settings: ChoiceSettings = ChoiceSettings(),
    *,
    notes: Sequence[str] = (),
    exclude: Collection[int] = (),
    screenshot_part: dict[str, Any] | None = None,
) -> Decision:
    candidates = [e for e in state.elements if e.id not in exclude]
    started = time.monotonic()
    ranked = await ranker.rank(rank_query(task, history, notes), candidates)
    rank_ms = (time.monotonic() - started) * 1e3
    decision = Decision(None, None, ranked, rank_ms=round(rank_ms, 1))
    started = time.monotonic()
    for index in range(settings.max_rounds):
        batch = ranked[index * settings.top_k : (index + 1) * settings.top_k]
        if index > 0 and not batch:
            break
        question = Question(
            task,
            list(history),
            state.url,
            state.title,
            [r.element for r in batch],
            notes=list(notes),
            screenshot=screenshot_part if chooser.vision else None,
        )
        reply = await chooser.answer(question)
        answer = parse_answer(reply.raw, question)
        decision.rounds.append(Round(question, reply, answer))
        if answer.action is not None:
            decision.action, decision.element = answer.action, answer.element
            break
        if not answer.none or reply.error:
            break  # unusable: another question would not fix it
    decision.choose_ms = round((time.monotonic() - started) * 1e3, 1)
    return decision
