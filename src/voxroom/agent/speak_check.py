"""The check before the agent speaks: a reply's first words are held until its first piece
(the sentence or clause TTS would start on) is complete, and looked at.

- A repeat: a base model copies its own history ("It's a good place to visit." for 53 of 80
  turns in one call, issue 16). A first piece that says the same words as an earlier reply
  of the session or its first piece, or mostly the same words ("French fries are made from
  milk and melted on top of pizza." after "Pizza is made from milk and …"), is a repeat,
  unless it restates the knowledge the app gave for this turn (asked twice about the pool,
  a concierge may well give the opening hours twice).
- An echo of the user's words ("Thank you, that's all for now." → the same), or a line in the
  user's voice: one that calls the agent by its name ("Nova, what is the capital of
  France?": a base model writing the next user line).
- Nothing: no words and no tool call that will run (the next attempts get no tools).
- A number the turn's knowledge does not hold: with context from the app, a number neither
  the context nor the user's words contain; after a tool round trip, one neither the tool's
  results nor the user's words contain (a taxi "booked for 9 pm" when the tool booked 7 pm).
- After a tool round trip, a first piece that says too little of what the tool returned
  ("I need a cab to the opera" when the tool booked the train station).

A reply that fails is generated again without the earlier conversation (what a base model
copies is not in it), then once more sampled. A short answer the model gives again without
the conversation is its answer, not a copy ("Red." for two colour questions). If the last
attempt after a tool round trip fails too, the tool's result is spoken when it is a short
sentence; otherwise the last attempt is spoken: a check never leaves the user without an
answer. Holding the first piece costs no time: TTS could not start before it was complete.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from voxroom.agent.chunking import SentenceChunker
from voxroom.agent.words import FILLER, normalize, numbers, words

RETRY_TEMPERATURE = 0.8
REPEAT = "repeats an earlier reply"
NOTHING = "says nothing"
GROUNDED_SHARE = 0.8  # of a piece's words in the turn's context: it restates that knowledge
RESULT_SHARE = 0.7  # of an answer's words after a tool round trip that its results contain
NEAR_REPEAT = 0.6  # word overlap (Jaccard) with an earlier reply that makes a repeat
NEAR_REPEAT_WORDS = 4  # ... for pieces of at least this many words
SHORT_ANSWER_WORDS = 3  # a repeat this short, said again without the conversation, stands
SPEAKABLE_RESULT_CHARS = 200


def first_piece(text: str) -> str:
    """The piece of `text` that TTS would start on (`SentenceChunker`'s first)."""
    chunker = SentenceChunker()
    pieces = chunker.push(text + " ")
    return pieces[0] if pieces else (chunker.flush() or "")


def speakable(result: str) -> bool:
    """A tool result that reads as a short sentence (not JSON, not a page of text)."""
    text = result.strip()
    return 0 < len(text) <= SPEAKABLE_RESULT_CHARS and not any(c in text for c in "{}[]<>")


class SpeakCheck:
    def __init__(
        self,
        earlier_replies: Iterable[str],
        user_words: str,
        context: str = "",
        agent_name: str = "",
    ) -> None:
        self._name = words(agent_name)
        self._said: set[str] = set()
        for reply in earlier_replies:
            self._said |= {normalize(reply), normalize(first_piece(reply))}
        self._said.discard("")
        self._said_words = [_content(said) for said in self._said]
        self._user_numbers = numbers(user_words)
        self._user_words = normalize(user_words)
        self._known = set(words(context))
        self._context_numbers = numbers(context)

    def problem(self, piece: str, tool_results: Sequence[str]) -> str | None:
        """Why `piece`, a reply's first piece, should not be spoken (None: it may)."""
        if not piece.strip():
            return None
        said = normalize(piece)
        if self._repeats(said) and _share(piece, self._known) < GROUNDED_SHARE:
            return REPEAT
        if len(said.split()) >= 3 and f" {said} " in f" {self._user_words} ":
            return "echoes the user"
        if self._calls_agent(piece):
            return "speaks as the user"
        known = self._user_numbers | self._context_numbers
        known = known.union(*(numbers(r) for r in tool_results))
        if (self._known or tool_results) and (unknown := sorted(numbers(piece) - known)):
            return f"says {', '.join(unknown)}, which it was not given"
        if tool_results:
            returned = {w for r in tool_results for w in words(r)}
            if _share(piece, returned) < RESULT_SHARE:
                return "says little of what the tool returned"
        return None

    @staticmethod
    def stands(piece: str, first: str, problem: str) -> bool:
        """Is a repeat said again without the conversation the model's answer? (`first`:
        the first attempt's piece.) Only for short answers: a long one is a copied phrase."""
        said = normalize(piece)
        short = len(said.split()) <= SHORT_ANSWER_WORDS
        return problem == REPEAT and short and said == normalize(first)

    def _calls_agent(self, piece: str) -> bool:
        """Starts by calling the agent by its name: "Nova, …" (not "Nova is …")."""
        name = self._name
        head = piece.strip().split(",", 1)
        return bool(name) and len(head) == 2 and words(head[0])[-len(name) :] == name

    def _repeats(self, said: str) -> bool:
        if said in self._said:
            return True
        content = _content(said)
        if len(content) < NEAR_REPEAT_WORDS:
            return False
        return any(
            len(content & other) >= NEAR_REPEAT * len(content | other) for other in self._said_words
        )


def _content(text: str) -> set[str]:
    return {w for w in words(text) if w not in FILLER}


def _share(piece: str, known: set[str]) -> float:
    """The share of the piece's words (filler aside) that are in `known`."""
    said = [w for w in words(piece) if w not in FILLER]
    return sum(w in known for w in said) / len(said) if said else 0.0
