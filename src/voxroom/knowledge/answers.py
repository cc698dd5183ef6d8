"""A suggested answer from retrieved passages: the sentences that answer, and their sources."""

from __future__ import annotations

import re
from typing import Any

from voxroom.knowledge.index import Hit

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "a an the i my me we our you your it its is are was were be been do does did can could "
    "would should will shall to of in on for at by with from and or but if so that this what "
    "when where which who how why there here about into up out not no yes please".split()
)
EXCERPT_CHARS = 280


def _content_words(text: str) -> set[str]:
    # A crude stem (plural and -ing endings) so "charges" meets "charged".
    return {re.sub(r"(?:ing|ed|es|s)$", "", w) for w in _WORD.findall(text.lower())} - _STOP


def answer_sentences(query: str, text: str, most: int = 2) -> str:
    """The (at most `most`) sentences of `text` that share the most words with `query`, in
    their order in the text; the first sentences when none share any."""
    sentences = [s for s in _SENTENCE.split(text.strip()) if s]
    wanted = _content_words(query)
    scored = [(len(wanted & _content_words(s)), -i) for i, s in enumerate(sentences)]
    best = sorted(range(len(sentences)), key=lambda i: scored[i], reverse=True)[:most]
    if all(scored[i][0] == 0 for i in best):
        best = list(range(min(most, len(sentences))))
    return " ".join(sentences[i] for i in sorted(best))


def source(hit: Hit) -> dict[str, Any]:
    """How a suggestion cites a passage (docs/protocol.md, `suggestion`)."""
    passage = hit.passage
    excerpt = (
        passage.text
        if len(passage.text) <= EXCERPT_CHARS
        else (passage.text[: EXCERPT_CHARS - 1].rsplit(" ", 1)[0] + "…")
    )
    return {
        "document": passage.document,
        "title": passage.title,
        "section": passage.heading,
        "score": round(hit.score, 3),
        "excerpt": excerpt,
    }
