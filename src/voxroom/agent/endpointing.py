"""Semantic end-of-turn signals from the transcript so far, and backchannel recognition.

Small, swappable strategies: the engine asks them, agents may replace them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Words a finished sentence rarely ends on: the speaker is mid-thought ("and…", "so…").
TRAILING_WORDS = frozenset(
    "and or but so because since although though if when while whereas than then "
    "the a an my your our their his her its this that these those "
    "to of in on at for with from by about into like as "
    "um uh er erm hmm well which who whose where what how is are was were".split()
)
# Acknowledgements, fillers and laughter, including how Whisper writes hummed ones ("M.M.",
# "Uh uh"; Piper's "mm hmm" came back as "Remember." in 4 of 48 renditions, "Amen, though."
# in 1, and its "uh huh" once as "ha ha ha …").
BACKCHANNELS = frozenset(
    "m mm mmm mhm mmhmm mm-hmm mm-hm hm hmm uh um uh-huh uhhuh uh-uh aha yeah yep yes ok okay "
    "right sure i see got it oh ah wow nice cool great remember amen ha haha hah heh hehe".split()
)
# Verbs that need what comes after them: "I would like …", "can you tell me …", "I need …".
# Only after a subject, a modal or "to" (the verb is then the head of the clause and its
# object is missing); a question or an imperative that ends on one ("Do you like?" aside) is
# rare in speech to an assistant. Whisper ends such a fragment with a full stop.
COMPLEMENT_VERBS = frozenset(
    "like want need get tell show give find make buy book order bring send take put explain "
    "describe recommend suggest remind reserve".split()
)
# Verbs that also end a sentence after a subject ("I know.", "I see."): unfinished only
# after "to" ("I want to know …").
_INFINITIVE_VERBS = frozenset("know see hear ask learn check visit play call choose".split())
_VERB_SUBJECTS = frozenset(
    "i i'd i'll we we'd you they he she to would could can will should must please "
    "also just really".split()
)
# Verbs whose first object is a person: "tell me …", "give us …", "show him …".
_GIVING_VERBS = frozenset("tell show give bring send get find book order buy remind ask".split())
_PERSONS = frozenset("me us him her them".split())
# Greetings that go with calling someone by name: "Hey Nova," then the question.
_CALLING_WORDS = frozenset("hey hi hello ok okay oh excuse me".split())
_WORD = re.compile(r"[a-z'-]+")


def needs_complement(words: list[str]) -> bool:
    """The last words leave a verb without its object ("I would like", "tell me")."""
    if len(words) >= 2 and words[-1] in COMPLEMENT_VERBS and words[-2] in _VERB_SUBJECTS:
        return True
    if len(words) >= 2 and words[-1] in _INFINITIVE_VERBS and words[-2] == "to":
        return True
    return len(words) >= 2 and words[-1] in _PERSONS and words[-2] in _GIVING_VERBS


@dataclass(frozen=True, slots=True)
class SemanticEndpointing:
    """Complete = ends like a sentence (. ? !), not on a word that needs a continuation, not
    on a verb still missing its object, and not only calling the agent by one of `names`
    ("Hey Nova." and a pause: the question follows; "Nova?" is complete)."""

    enabled: bool = True
    trailing_words: frozenset[str] = field(default=TRAILING_WORDS)
    names: tuple[str, ...] = ()

    def looks_complete(self, text: str) -> bool:
        stripped = text.strip()
        if not self.enabled:
            return True
        if not stripped or stripped.endswith(("...", "…", ",", "-", "—", ";", ":")):
            return False
        words = _WORD.findall(stripped.lower())
        if not words or words[-1] in self.trailing_words or needs_complement(words):
            return False
        if stripped[-1] != "?" and self._only_calls_agent(words):
            return False
        return stripped[-1] in ".?!"

    def _only_calls_agent(self, words: list[str]) -> bool:
        for name in self.names:
            called = _WORD.findall(name.lower())
            if called and words[-len(called) :] == called:
                return all(w in _CALLING_WORDS for w in words[: -len(called)])
        return False


# One word that means "stop talking" interrupts however unsure the recognizer is of it.
INTERRUPTING_WORDS = frozenset(
    "stop wait no hold hey sorry excuse pause listen actually but what why how who".split()
)
# "m-m-f-m", "m-m-them": Whisper spelling a hum (and guessing a word at its end)
_LETTER_STRING = re.compile(r"^(?:[a-z]-)+[a-z]+$")
_HUM_WORD = re.compile(r"^(?:mm+[a-z]?|hm+)$")  # "MMR.", "mml.", "MMO.": a hum as one word
# Real words Whisper writes for Piper's "mm hmm": followed by one guessed word ("Amen now."),
# still a hum.
_HUM_RENDERINGS = frozenset({"amen", "remember"})


def _spelled_hum(tokens: list[str], letters: list[str]) -> bool:
    """Whisper spelling a hum letter by letter from an "m" or "h", perhaps ending on one
    guessed word ("M.A.M.FM.", "M.A.M. them."); "A.M. or P.M." does not start like a hum,
    and "M.A. in history" has two words."""
    starts_humming = bool(tokens) and tokens[0] in ("m", "h")
    guessed = [t for t in tokens if len(t) > 1 and not _HUM_WORD.match(t)]
    return starts_humming and len(guessed) <= 1 and len(letters) >= 2


@dataclass(frozen=True, slots=True)
class BackchannelFilter:
    """A short utterance of only acknowledgement words (or no words) is not an interruption;
    nor is a hum as Whisper writes it: "MMR.", letters ("M.M.E.R.", "M-M-F-M."), a hum with a
    guessed word ("MM that.", "M.M. Phen"), or one or two words it is unsure of ("Emenda.", "and
    remember.": mean log-probability below `min_short_logprob`). An interrupting word
    ("stop", "no", ...) always interrupts. Measured on espeak-ng and Piper voices, hums came
    out at -0.87 to -1.16 and real single words at -0.12 to -0.80."""

    max_words: int = 3
    words: frozenset[str] = field(default=BACKCHANNELS)
    interrupting_words: frozenset[str] = field(default=INTERRUPTING_WORDS)
    min_short_logprob: float = -0.85

    def is_backchannel(self, text: str, avg_logprob: float | None = None) -> bool:
        tokens = _WORD.findall(text.lower())
        if any(t in self.interrupting_words for t in tokens):
            return False
        letters = [t for t in tokens if len(t) == 1]
        hums = [t for t in tokens if _HUM_WORD.match(t) or _LETTER_STRING.match(t)]
        if len(letters) > 1:
            hums += letters  # "M.M. Phen": a hum spelled out, then a guess
        if len(tokens) <= self.max_words and hums:
            return True  # a hum with a word Whisper guessed ("MM that.")
        if _spelled_hum(tokens, letters) and len(tokens) <= 2 * self.max_words:
            return True  # "M.A.M.FM."
        if 0 < len(tokens) <= 2 and tokens[0] in _HUM_RENDERINGS:
            return True  # "Amen now." (the hum first, then the guess)
        acknowledging = all(t in self.words or t in hums for t in tokens)
        if acknowledging and len(set(tokens)) <= 2 * self.max_words:
            # acknowledgements ("uh uh uh", however often Whisper repeats them), a spelled hum
            return True
        unsure = avg_logprob is not None and avg_logprob < self.min_short_logprob
        return len(tokens) <= 2 and unsure
