"""A deterministic stand-in for a sentence-embedding model in unit tests: bag of hashed words
(so texts sharing words are close), unit length. It counts what it encodes."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np


class WordHashEncoder:
    name = "word-hash"
    dimensions = 64

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.encoded += texts
        vectors = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z]{3,}", text.lower()):
                slot = int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dimensions
                vectors[row, slot] += 1.0
            norm = float(np.linalg.norm(vectors[row]))
            vectors[row] = vectors[row] / norm if norm else 1.0 / np.sqrt(self.dimensions)
        return vectors
