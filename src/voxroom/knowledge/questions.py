"""Is this turn worth a lookup? Questions and support topics in a caller's words, told apart
from small talk: heuristics first, the LLM only for what they cannot decide.

- a question: a question mark, or a clause that opens like one ("how do I …", "can you …");
- a topic: a request or a problem stated without a question ("I want to cancel", "my internet
  keeps dropping");
- small talk: greetings, thanks, pleasantries, the weather; a turn made only of those;
- anything else goes to the LLM (one word: yes or no), when one is given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from voxroom.providers.base import LLM, ChatMessage, LLMRequest, ProviderError

CueKind = Literal["question", "topic", "small_talk", "other"]
MIN_WORDS = 3  # fewer words carry no question worth a lookup ("Really?", "And then?")

_CLAUSE = re.compile(r"(?<=[.!?;])\s+|,\s+(?=(?:and|but|so)\b)")
_WORDS = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_OPENERS = frozenset(
    "what when where which who whom whose why how can could do does did is are was were will "
    "would should shall may might have has am isn't aren't don't doesn't can't won't".split()
)
# Lead-ins before the real start of a clause: "so", "um", "and", "okay so", "I was wondering".
_FILLERS = frozenset("so um uh er well and but okay ok also then right hi hello hey yes no".split())
_WONDERING = re.compile(r"^(?:i was wondering|i wonder|tell me|do you know|could you tell me)\b")
_TOPIC = re.compile(
    r"\b(?:i|we) (?:want|need|would like|'d like|wanna|am trying|'m trying|have to|can't|cannot"
    r"|couldn't|forgot|lost)\b"
    r"|\b(?:not working|doesn't work|does not work|stopped working|isn't working|won't|broken"
    r"|keeps? (?:dropping|failing|crashing|disconnecting)|problem|issue|error|slow|outage"
    r"|charged|overcharged|refund|cancel|complain|help me|please)\b"
)
_SMALL_TALK = re.compile(
    r"^(?:(?:hi|hello|hey|good (?:morning|afternoon|evening|day))(?: there)?"
    r"|how (?:are|is) (?:you|your day|it going|everything)(?: (?:today|doing))?"
    r"|how's it going|how have you been|nice to (?:meet|talk to) you"
    r"|(?:i'm|i am) (?:fine|good|great|okay|well|doing well)(?: thanks?(?: you)?)?"
    r"|(?:thanks?|thank you)(?: (?:so|very) much)?(?: for (?:your|the|all the) help)?"
    r"|(?:bye|goodbye|see you|talk (?:to you )?(?:later|soon)|have a (?:nice|good|great) "
    r"(?:day|evening|weekend))"
    r"|(?:no problem|sure|great|perfect|okay|ok|alright|all right|yes|yeah|no|right|got it"
    r"|that's (?:great|perfect|fine|good|helpful))"
    r"|.*\b(?:weather|sunny|rain|raining|lovely day|nice day|weekend)\b.*"
    r")(?: (?:thanks|please|too|today))?$"
)
_CLASSIFY_INSTRUCTIONS = (
    "Each line is something a customer said in a support call. The assistant answers yes if "
    "the customer asks for information or help, or states a problem; no for small talk."
)
_CLASSIFY_EXAMPLES = [
    ("My package never arrived.", "yes"),
    ("I had pasta for lunch, it was lovely.", "no"),
    ("The app shows an error when I log in.", "yes"),
    ("My daughter starts school next week.", "no"),
    ("The printer in the office is out of ink again.", "yes"),
    ("We went to the lake on Sunday.", "no"),
]


@dataclass(frozen=True, slots=True)
class Cue:
    kind: CueKind
    query: str  # the words to look up (the question itself, fillers and greetings dropped)
    by: Literal["heuristics", "llm"] = "heuristics"

    @property
    def worth_a_lookup(self) -> bool:
        return self.kind in ("question", "topic")


def _words(text: str) -> list[str]:
    return _WORDS.findall(text.lower().replace("’", "'"))


def _core(clause: str) -> str:
    """The clause without lead-in fillers, lower case, single-spaced."""
    words = _words(clause)
    while words and words[0] in _FILLERS:
        words.pop(0)
    return " ".join(words)


def heuristic_cue(text: str) -> Cue | None:
    """The heuristics' verdict, or None when they cannot tell."""
    clauses = [c for c in _CLAUSE.split(text.strip()) if c.strip()]
    cores = [_core(c) for c in clauses]
    kept = [(clause, core) for clause, core in zip(clauses, cores, strict=True) if core]
    if not kept or all(_SMALL_TALK.match(core) for _, core in kept):
        return Cue("small_talk", "")
    # What is said besides the small talk ("Hi, how are you? I can't log in.") is the query.
    content = [(clause, core) for clause, core in kept if not _SMALL_TALK.match(core)]
    query = " ".join(clause.strip() for clause, _ in content)
    if sum(len(core.split()) for _, core in content) < MIN_WORDS:
        return Cue("other", query)
    for clause, core in content:
        first = core.split()[0]
        if clause.rstrip().endswith("?") or first in _OPENERS or _WONDERING.match(core):
            return Cue("question", query)
    if any(_TOPIC.search(core) for _, core in content):
        return Cue("topic", query)
    return None


async def detect(text: str, llm: LLM | None = None) -> Cue:
    """What `text` is; the LLM decides what the heuristics cannot (without one: "other")."""
    cue = heuristic_cue(text)
    if cue is not None:
        return cue
    query = " ".join(text.split())
    if llm is None:
        return Cue("other", query)
    return Cue("topic" if await _llm_says_yes(llm, query) else "other", query, by="llm")


async def _llm_says_yes(llm: LLM, text: str) -> bool:
    messages = [ChatMessage("system", _CLASSIFY_INSTRUCTIONS)]
    for said, answer in _CLASSIFY_EXAMPLES:
        messages += [ChatMessage("user", said), ChatMessage("assistant", answer)]
    messages.append(ChatMessage("user", text))
    request = LLMRequest(messages=messages, max_tokens=2, temperature=0.0, stop=["\n"])
    answer = ""
    try:
        async for delta in llm.stream(request):
            answer += delta
    except ProviderError:
        return False  # no verdict: no suggestion (the agent can still ask)
    return answer.strip().lower().startswith("yes")
