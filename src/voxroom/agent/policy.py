"""When the agent speaks: a small policy the session asks at the end of every user turn.

- `always`: answer every finished turn (the one-participant default);
- `addressed` (the room default): answer a turn that addresses the agent: its name or a wake
  phrase anywhere in the turn; a follow-up from the speaker the agent just answered; an answer
  to a question the agent just asked; a typed message or a push-to-talk turn (both are aimed
  at the agent by construction). Everything else is people talking to each other: the agent
  listens and keeps the transcript;
- `push_to_talk`: answer only turns a participant made holding the talk button (or typed);
- `silent`: never speak (listen only: transcribers, copilots).

The agent's hook (`Agent.on_user_turn`) sees the decision as `turn.respond` and may change it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

PolicyName = Literal["always", "addressed", "push_to_talk", "silent"]
POLICIES: tuple[PolicyName, ...] = ("always", "addressed", "push_to_talk", "silent")

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def words(text: str) -> list[str]:
    """Lower-case words, punctuation dropped, a possessive "'s" folded ("Nova's" → "nova")."""
    return [w.removesuffix("'s") for w in _WORD.findall(text.lower())]


@dataclass(frozen=True, slots=True)
class TurnFacts:
    """What a policy knows of a finished user turn."""

    text: str
    speaker: str | None  # identity; None: not known
    source: Literal["voice", "chat"]
    explicit: bool  # ended by the user (push-to-talk release), not by silence
    started_at: float  # monotonic: when the user started speaking (or sent the message)


class TurnPolicy:
    """Base: `should_answer` decides; `replied` tells it the agent finished speaking."""

    name: PolicyName = "always"
    # Words the recognizer should expect (the wake phrases, where they matter).
    hints: tuple[str, ...] = ()

    def should_answer(self, turn: TurnFacts) -> bool:
        return True

    def replied(self, to: str | None, heard: str, ended_at: float) -> None:
        """The agent's reply to `to` ended at `ended_at`; `heard`: what of it was played."""


class AlwaysAnswer(TurnPolicy):
    name: PolicyName = "always"


class Silent(TurnPolicy):
    name: PolicyName = "silent"

    def should_answer(self, turn: TurnFacts) -> bool:
        return False


class PushToTalk(TurnPolicy):
    name: PolicyName = "push_to_talk"

    def should_answer(self, turn: TurnFacts) -> bool:
        return turn.explicit or turn.source == "chat"


class Addressed(TurnPolicy):
    """Answers turns aimed at the agent (see the module doc). `follow_up_s`: how soon after
    the agent's reply ends a turn still counts as a follow-up or an answer to its question."""

    name: PolicyName = "addressed"

    def __init__(self, wake_phrases: Iterable[str], follow_up_s: float = 8.0) -> None:
        self.hints = tuple(p for p in wake_phrases if words(p))
        self.phrases = [tuple(words(p)) for p in self.hints]
        self.follow_up_s = follow_up_s
        self._answered: str | None = None
        self._asked_question = False
        self._reply_ended_at: float | None = None

    def mentions_agent(self, text: str) -> bool:
        said = words(text)
        return any(
            said[i : i + len(phrase)] == list(phrase)
            for phrase in self.phrases
            for i in range(len(said) - len(phrase) + 1)
        )

    def should_answer(self, turn: TurnFacts) -> bool:
        if turn.source == "chat" or turn.explicit or self.mentions_agent(turn.text):
            return True
        ended = self._reply_ended_at
        if ended is None or turn.started_at - ended > self.follow_up_s:
            return False
        return self._asked_question or (turn.speaker is not None and turn.speaker == self._answered)

    def replied(self, to: str | None, heard: str, ended_at: float) -> None:
        self._answered = to
        self._asked_question = heard.rstrip().endswith("?")
        self._reply_ended_at = ended_at


def make_policy(name: PolicyName, wake_phrases: Iterable[str]) -> TurnPolicy:
    if name == "addressed":
        return Addressed(wake_phrases)
    if name == "push_to_talk":
        return PushToTalk()
    if name == "silent":
        return Silent()
    return AlwaysAnswer()
