"""Reading the model's answer defensively. Asked for "C. TYPE blue kettle", models write
"(C) TYPE: 'blue kettle'", "Answer: C, click", "ELEMENT: C / ACTION: TYPE / VALUE: …",
"c. Type blue kettle.", an element's text instead of its letter, or nothing useful. Whatever
is read is returned with the problems met, so the audit trail shows how an answer was taken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from voxroom.browser.actions import PAGE_ACTIONS, VALUE_ACTIONS, Action, ActionKind
from voxroom.browser.elements import PageElement
from voxroom.browser.prompt import Question

_ACTION_WORDS = r"CLICK|TYPE|SELECT|PRESS|ENTER|SCROLL|GO|TERMINATE"
_LEAD_UPPER = re.compile(
    rf"^\W{{0,3}}([A-Z])(?:[\)\]]|[.:,]|\s*[-=]|\s+(?=(?i:{_ACTION_WORDS})\b)|\s*$)"
)
_LEAD_LOWER = re.compile(r"^\W{0,3}([a-z])[.:)\]]")
_LABELLED = re.compile(r"(?i:element|answer|option|choice|letter)\s*(?:is\s*)?[:=]?\s*\(?([A-Z])\b")
_ANYWHERE = re.compile(r"(?<![\w'])\(?([A-Z])[\).](?:\s|$)")
_ACTION = re.compile(
    r"\b(?P<kind>(?i:click|type|select|press\s+enter|scroll\s+down|scroll\s+up|scroll|go\s+back"
    r"|terminate)|ENTER|BACK|DONE|FINISH(?:ED)?|STOP)\b"
)
_VALUE_LINE = re.compile(r"(?im)^\s*value\s*[:=]\s*(.+)$")
_QUOTED = re.compile(r"[\"“'‘]([^\"”'’]+)[\"”'’]")
_CANONICAL: dict[str, ActionKind] = {
    "click": "CLICK", "type": "TYPE", "select": "SELECT", "press enter": "PRESS ENTER",
    "enter": "PRESS ENTER", "scroll down": "SCROLL DOWN", "scroll up": "SCROLL UP",
    "scroll": "SCROLL DOWN", "go back": "GO BACK", "back": "GO BACK", "terminate": "TERMINATE",
    "done": "TERMINATE", "finish": "TERMINATE", "finished": "TERMINATE", "stop": "TERMINATE",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Answer:
    """What the model's answer says: an action (None: unusable, or "none of these" without a
    page-level action, i.e. look at the next candidates) and what was wrong with it."""

    action: Action | None
    element: PageElement | None
    none: bool  # the model chose "none of these"
    problems: tuple[str, ...] = ()


def _letter(text: str, question: Question, problems: list[str]) -> str | None:
    first = text.strip().splitlines()[0] if text.strip() else ""
    for pattern, source in ((_LABELLED, text), (_LEAD_UPPER, first), (_LEAD_LOWER, first),
                            (_ANYWHERE, text)):  # fmt: skip
        if match := pattern.search(source):
            letter = match.group(1).upper()
            if letter in question.letters:
                return letter
            problems.append(f"{letter} is not one of the options")
    return None


def _by_text(text: str, question: Question) -> str | None:
    """The option whose name the answer quotes, when it gave no letter."""
    lowered = text.lower()
    named = [
        (len(e.name_for_people()), letter)
        for letter, e in question.lettered()
        if len(e.name_for_people()) > 2 and e.name_for_people().lower() in lowered
    ]
    return max(named)[1] if named else None


def _value(rest: str, text: str) -> str:
    if line := _VALUE_LINE.search(text):
        rest = line.group(1)
    rest = rest.strip().splitlines()[0] if rest.strip() else ""
    if quoted := _QUOTED.search(rest):
        return quoted.group(1).strip()
    rest = re.sub(r"^[\s.:=\-–>]+", "", rest)
    rest = re.sub(r"\s+into\s.*$", "", rest)  # "TYPE blue kettle into the search box"
    return rest.strip().rstrip(".").strip()


def parse_answer(raw: str, question: Question) -> Answer:
    problems: list[str] = []
    text = raw.strip()
    if not text:
        return Answer(None, None, False, ("empty answer",))
    letter = _letter(text, question, problems)
    if letter is None and (letter := _by_text(text, question)) is not None:
        problems.append("no letter: the option was found by its text")
    after = text
    if letter is not None and (at := re.search(rf"\b{letter}\b", text)) is not None:
        after = text[at.end() :]
    kind: ActionKind | None = None
    rest = ""
    if match := (_ACTION.search(after) or _ACTION.search(text)):
        word = " ".join(match.group("kind").lower().split())
        kind = _CANONICAL.get(word)
        rest = match.string[match.end() :]
    if kind in PAGE_ACTIONS:
        assert kind is not None
        return Answer(Action(kind), None, letter == question.none_letter, tuple(problems))
    if letter is None:
        return Answer(None, None, False, (*problems, "no option chosen"))
    element = question.element_of(letter)
    if element is None:  # "none of these" with no page-level action: the next candidates
        return Answer(None, None, True, tuple(problems))
    value = _value(rest, text) if kind in VALUE_ACTIONS else ""
    if kind is None:
        kind = "SELECT" if element.tag == "select" else "CLICK"
        problems.append(f"no action: {kind} assumed for a {element.kind}")
        if kind == "SELECT":
            value = _value(text[text.find(letter) + 1 :], text)
    if kind in VALUE_ACTIONS and not value:
        return Answer(None, element, False, (*problems, f"{kind} without a value"))
    return Answer(Action(kind, element.id, value), element, False, tuple(problems))
