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
# Acknowledgements and fillers, including how Whisper writes hummed ones ("M.M.", "Uh uh";
# Piper's "mm hmm" came back as "Remember." in 4 of 48 renditions, "Amen, though." in 1).
BACKCHANNELS = frozenset(
    "m mm mmm mhm mmhmm mm-hmm mm-hm hm hmm uh um uh-huh uhhuh uh-uh aha yeah yep yes ok okay "
    "right sure i see got it oh ah wow nice cool great remember amen".split()
)
_WORD = re.compile(r"[a-z'-]+")


@dataclass(frozen=True, slots=True)
class SemanticEndpointing:
    """Complete = ends like a sentence (. ? !) and not on a word that needs a continuation."""

    enabled: bool = True
    trailing_words: frozenset[str] = field(default=TRAILING_WORDS)

    def looks_complete(self, text: str) -> bool:
        stripped = text.strip()
        if not self.enabled:
            return True
        if not stripped or stripped.endswith(("...", "…", ",", "-", "—", ";", ":")):
            return False
        words = _WORD.findall(stripped.lower())
        if not words or words[-1] in self.trailing_words:
            return False
        return stripped[-1] in ".?!"


# One word that means "stop talking" interrupts however unsure the recognizer is of it.
INTERRUPTING_WORDS = frozenset(
    "stop wait no hold hey sorry excuse pause listen actually but what why how who".split()
)
# "m-m-f-m", "m-m-them": Whisper spelling a hum (and guessing a word at its end)
_LETTER_STRING = re.compile(r"^(?:[a-z]-)+[a-z]+$")
_HUM_WORD = re.compile(r"^(?:mm+[a-z]?|hm+)$")  # "MMR.", "mml.", "MMO.": a hum as one word


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
        if len(tokens) <= 2 * self.max_words and all(t in self.words or t in hums for t in tokens):
            return True  # acknowledgements ("uh uh uh uh"), a hum spelled out ("M.M.E.R.")
        unsure = avg_logprob is not None and avg_logprob < self.min_short_logprob
        return len(tokens) <= 2 and unsure
