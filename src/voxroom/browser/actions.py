"""The action space (SeeAct / Mind2Web, plus page-level moves): CLICK, TYPE value, SELECT
option, PRESS ENTER on an element; SCROLL UP/DOWN, GO BACK and TERMINATE on the page."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Literal

ActionKind = Literal[
    "CLICK", "TYPE", "SELECT", "PRESS ENTER", "SCROLL DOWN", "SCROLL UP", "GO BACK", "TERMINATE"
]
ELEMENT_ACTIONS: frozenset[str] = frozenset(("CLICK", "TYPE", "SELECT", "PRESS ENTER"))
PAGE_ACTIONS: frozenset[str] = frozenset(("SCROLL DOWN", "SCROLL UP", "GO BACK", "TERMINATE"))
VALUE_ACTIONS: frozenset[str] = frozenset(("TYPE", "SELECT"))
ACTION_KINDS: tuple[ActionKind, ...] = (
    "CLICK", "TYPE", "SELECT", "PRESS ENTER", "SCROLL DOWN", "SCROLL UP", "GO BACK", "TERMINATE",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Action:
    kind: ActionKind
    element: int | None = None  # the element's id (data-vx-id); None for page-level actions
    value: str = ""  # TYPE: the text; SELECT: the option as asked for

    def __post_init__(self) -> None:
        if self.kind in ELEMENT_ACTIONS and self.element is None and self.kind != "PRESS ENTER":
            raise ValueError(f"{self.kind} needs an element")

    @property
    def op(self) -> str:
        """Operation and value as Mind2Web compares them ("TYPE blue kettle", "CLICK")."""
        return f"{self.kind} {normalize(self.value)}".strip() if self.value else self.kind


def normalize(text: str) -> str:
    return " ".join(re.sub(r"[^\w€$£.@:/-]+", " ", text.lower()).split())


def closest_option(options: tuple[str, ...] | list[str], wanted: str) -> int | None:
    """The index of the option that best matches `wanted` (exact, then containment either
    way, then the most similar by characters, if similar enough); None if nothing is close."""
    target = normalize(wanted)
    if not options or not target:
        return None
    normalized = [normalize(o) for o in options]
    for index, option in enumerate(normalized):
        if option == target:
            return index
    contained = [i for i, o in enumerate(normalized) if o and (target in o or o in target)]
    if contained:  # the shortest containing option: "Express" → "Express (+5 €)"
        return min(contained, key=lambda i: abs(len(normalized[i]) - len(target)))
    scores = [difflib.SequenceMatcher(None, target, o).ratio() for o in normalized]
    best = max(range(len(scores)), key=scores.__getitem__)
    return best if scores[best] >= 0.5 else None
