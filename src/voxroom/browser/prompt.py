"""The multiple-choice question (SeeAct's second stage): the task, what was done so far, the
page, and the ranked candidates as lettered options plus "none of these"; the model answers
on one line with a letter, an action and its value ("C. TYPE blue kettle").

The same messages serve chat models (system, worked examples, the question) and base models
such as the packaged Gemma, which see them as a few-shot transcript (`providers.prompt`). The
worked examples use another site than the test sites, so they teach the format, not answers.
With a vision-capable model the page's screenshot goes with the question.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from voxroom.browser.elements import PageElement
from voxroom.media.vision import user_content
from voxroom.providers.base import ChatMessage

LETTERS = string.ascii_uppercase
NONE_TEXT = "None of these (scroll, go back, or the task is done)"

INSTRUCTIONS = (
    "You control a web browser to do a task for a user, one action per step. Each step shows "
    "the task, the actions taken so far, the page, and page elements labelled with letters. "
    "Answer with one line: the letter of the element, then the action: CLICK, TYPE <text>, "
    "SELECT <option> or PRESS ENTER. When no element fits, answer the last letter with "
    "SCROLL DOWN, SCROLL UP or GO BACK; when the task is done, the last letter with TERMINATE."
)

EXAMPLES: list[tuple[str, str]] = [
    (
        "Task: find a red wool scarf and add it to the basket\nDone so far: nothing\n"
        "Page: Wool & Co (http://wool.example/)\n"
        'A. link "Basket (0)"\nB. text input "Search products"\nC. button "Search"\n'
        'D. link "Hats"\nE. ' + NONE_TEXT,
        "B. TYPE red wool scarf",
    ),
    (
        "Task: find a red wool scarf and add it to the basket\n"
        'Done so far: TYPE "red wool scarf" into text input "Search products"\n'
        "Page: Wool & Co (http://wool.example/)\n"
        'A. button "Search"\nB. link "Hats"\nC. text input "Search products"\nD. ' + NONE_TEXT,
        "C. PRESS ENTER",
    ),
    (
        "Task: find a red wool scarf and add it to the basket\n"
        'Done so far: TYPE "red wool scarf" into text input "Search products"; PRESS ENTER\n'
        "Page: Results (http://wool.example/search?q=red+wool+scarf)\n"
        'A. button "Add to basket" (in: Blue wool scarf 19 €)\n'
        'B. button "Add to basket" (in: Red wool scarf 21 €)\nC. select "Sort by" options: '
        "Newest | Price\nD. " + NONE_TEXT,
        "B. CLICK",
    ),
    (
        "Task: find a red wool scarf and add it to the basket\n"
        'Done so far: TYPE "red wool scarf" into text input "Search products"; PRESS ENTER; '
        'CLICK button "Add to basket" (in: Red wool scarf 21 €)\n'
        "Page: Basket (http://wool.example/basket)\n"
        'A. link "Checkout"\nB. button "Remove" (in: Red wool scarf 1 21 €)\nC. ' + NONE_TEXT,
        "C. TERMINATE",
    ),
    (
        'Task: order the green gloves in size M\nDone so far: CLICK link "Green gloves"\n'
        "Page: Green gloves (http://wool.example/gloves/green)\n"
        'A. select "Size" options: S | M | L\nB. button "Add to basket"\nC. ' + NONE_TEXT,
        "A. SELECT M",
    ),
]


@dataclass(frozen=True, slots=True)
class Question:
    """One multiple-choice question: the options are the candidates shown, in letter order."""

    task: str
    history: Sequence[str]
    url: str
    title: str
    options: Sequence[PageElement]
    notes: Sequence[str] = ()  # what the user said during the task ("no, the other one")
    screenshot: dict[str, Any] | None = None  # an image part, for vision models
    letters: list[str] = field(init=False)

    def __post_init__(self) -> None:
        if len(self.options) + 1 > len(LETTERS):
            raise ValueError(f"at most {len(LETTERS) - 1} options")
        object.__setattr__(self, "letters", list(LETTERS[: len(self.options) + 1]))

    @property
    def none_letter(self) -> str:
        return self.letters[-1]

    def lettered(self) -> list[tuple[str, PageElement]]:
        """(letter, element) for each option but the last, "none of these"."""
        return list(zip(self.letters, self.options, strict=False))

    def element_of(self, letter: str) -> PageElement | None:
        index = self.letters.index(letter)
        return self.options[index] if index < len(self.options) else None

    def text(self) -> str:
        lines = [f"Task: {self.task}"]
        lines += [f"The user said: {note}" for note in self.notes]
        lines.append(f"Done so far: {'; '.join(self.history) if self.history else 'nothing'}")
        lines.append(f"Page: {self.title or 'untitled'} ({self.url})")
        lines += [f"{letter}. {e.describe()}" for letter, e in self.lettered()]
        lines.append(f"{self.none_letter}. {NONE_TEXT}")
        return "\n".join(lines)


def messages(question: Question) -> list[ChatMessage]:
    built = [ChatMessage("system", INSTRUCTIONS)]
    for asked, answered in EXAMPLES:
        built += [ChatMessage("user", asked), ChatMessage("assistant", answered)]
    images = (question.screenshot,) if question.screenshot else ()
    built.append(ChatMessage("user", user_content(question.text(), *images)))
    return built


def history_line(kind: str, element: PageElement | None, value: str = "") -> str:
    """An action as the prompt's "Done so far" tells it."""
    target = ""
    if element is not None:
        target = f'{element.kind} "{element.name_for_people()}"'
        if element.context and not element.label:
            target += f" (in: {element.context[:50]})"
    if kind == "TYPE":
        return f'TYPE "{value}" into {target}'.strip()
    if kind == "SELECT":
        return f'SELECT "{value}" in {target}'.strip()
    return f"{kind} {target}".strip()
