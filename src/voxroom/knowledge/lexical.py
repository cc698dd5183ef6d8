"""Word overlap between a question and a passage, weighted by how rare each word is in the
knowledge base (inverse document frequency): what the embedding misses when the question
names the thing a passage is about ("streaming box … replace" is the damaged-equipment
passage, not the one on pairing the box), and a second opinion when a recognizer's slip
blurs the meaning."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable

_WORD = re.compile(r"[a-z0-9]+")
STOP = frozenset(
    "a an the i my me we our us you your it its is are was were be been being do does did can "
    "could would should will shall may might must to of in on for at by with from and or but if "
    "so that this these those what when where which who whom how why there here about into up "
    "out not no yes please just also then than them they their he she his her him get got have "
    "has had any some all very really much many one need want know tell like".split()
)


def terms(text: str) -> set[str]:
    """Content words, crudely stemmed ("charges", "charged" → "charg")."""
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in STOP and len(w) > 1}


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


class Lexicon:
    """Document frequencies of the passages' terms."""

    def __init__(self, passages: Iterable[str] = ()) -> None:
        self.frequency: Counter[str] = Counter()
        self.passages = 0
        for text in passages:
            self.add(text)

    def add(self, text: str) -> None:
        self.frequency.update(terms(text))
        self.passages += 1

    def remove(self, text: str) -> None:
        self.frequency.subtract(terms(text))
        self.passages -= 1

    def weight(self, term: str) -> float:
        return math.log(1 + (self.passages + 1) / (self.frequency.get(term, 0) + 1))

    def overlap(self, query: str, passage: str) -> float:
        """The share (0–1) of the query's term weight that the passage has."""
        asked = terms(query)
        if not asked:
            return 0.0
        total = sum(self.weight(t) for t in asked)
        return sum(self.weight(t) for t in asked & terms(passage)) / total
