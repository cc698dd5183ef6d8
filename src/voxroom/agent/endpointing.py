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
# Acknowledgements and fillers, including how Whisper writes hummed ones ("M.M.", "Uh uh").
BACKCHANNELS = frozenset(
    "m mm mmm mhm mmhmm mm-hmm mm-hm hm hmm uh um uh-huh uhhuh uh-uh yeah yep yes ok okay "
    "right sure i see got it oh ah wow nice cool great".split()
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


@dataclass(frozen=True, slots=True)
class BackchannelFilter:
    """A short utterance of only acknowledgement words (or no words) is not an interruption."""

    max_words: int = 3
    words: frozenset[str] = field(default=BACKCHANNELS)

    def is_backchannel(self, text: str) -> bool:
        tokens = _WORD.findall(text.lower())
        return len(tokens) <= self.max_words and all(t in self.words for t in tokens)
