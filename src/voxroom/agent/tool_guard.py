"""A tool with side effects runs only when the user's words ask for it.

A small model shown a few tool examples calls tools on its own: asked when breakfast is
served, the packaged Gemma booked a taxi (issue 16), and no prompt stopped it for good. So a
tool that acts on the world (books, sends, pays) says so, and before the engine runs a call
of it, it checks the call against what the user said:

- the user said one of the words that ask for it (`asked_by`; by default the words of the
  tool's name, "book" or "taxi" for `book_taxi`);
- every word of every argument was said by the user (filler words aside: "the airport" is
  grounded by "to the airport"): a taxi at 9 pm is not booked for a guest who said 7 pm.

The user's words are those of the turn being answered and, when the agent's last reply asked
something, of the turn before it ("A taxi, please." → "Where to?" → "The airport at 7 pm.").
Context an app added for the turn (a hotel's facts) is not the user's words. A refused call
does not run: the model is told why and answers in words (`ToolCalled.refused` on the log).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from voxroom.agent.words import FILLER, words
from voxroom.providers.base import ToolCall

SIDE_EFFECTS_MARK = "__voxroom_side_effects__"


@dataclass(frozen=True, slots=True)
class SideEffects:
    """What asks for a tool that acts: any one of `asked_by` in the user's words."""

    asked_by: tuple[str, ...]

    @classmethod
    def of(cls, tool_name: str, asked_by: tuple[str, ...] = ()) -> SideEffects:
        named = tuple(w for w in tool_name.lower().split("_") if w and w not in FILLER)
        return cls(tuple(w.lower() for w in asked_by) or named)


def refusal(call: ToolCall, effects: SideEffects, said: str) -> str | None:
    """Why `call` must not run given what the user `said` (None: it may run)."""
    heard = set(words(said))
    if not any(set(words(phrase)) <= heard for phrase in effects.asked_by):
        asks = " or ".join(repr(p) for p in effects.asked_by)
        return f"not run: the user did not ask for {call.name} (no {asks} in their words)"
    try:
        arguments = json.loads(call.arguments or "{}")
    except json.JSONDecodeError:
        return None  # the call fails on its own, with the parse error for the model
    if not isinstance(arguments, dict):
        return None
    for name, value in arguments.items():
        unsaid = [w for w in words(_text(value)) if w not in heard and not _filler(w)]
        if unsaid:
            return (
                f"not run: the user did not say {' '.join(unsaid)!r} ({name}); "
                "use only what they said, or ask them"
            )
    return None


def _filler(word: str) -> bool:
    return word in FILLER or word == "00"  # "7:00 pm" says no more than "7 pm"


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return " ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return " ".join(_text(v) for v in value.values())
    return "" if value is None or isinstance(value, bool) else str(value)
