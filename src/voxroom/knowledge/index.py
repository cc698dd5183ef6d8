"""A knowledge folder's passages, embedded and held in a vector index (usearch) on disk.

`sync()` brings the index up to date with the folder: a file whose size or modification time
changed is read again if its content changed (sha256), a removed file's passages go, and the
index and its passage table are saved. Opening the same store again costs no embedding; a
store whose index and table disagree (a crash between the two writes) is rebuilt.

Everything here blocks (disk, the embedding model): `KnowledgeBase` runs it off the event loop.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from usearch.index import Index

from voxroom.knowledge.documents import DocumentError, Passage, documents, read_passages
from voxroom.knowledge.lexical import Lexicon

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
# A passage's score: its cosine similarity to the question plus this much of their word
# overlap (`lexical`); measured on `voxroom bench assist` (docs/benchmarks.md).
LEXICAL_WEIGHT = 0.2
CANDIDATES = 12  # nearest passages by embedding that the word overlap re-ranks
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL,
    sha256 TEXT NOT NULL, error TEXT
);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL, title TEXT NOT NULL, heading TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_by_path ON passages (path);
"""


class TextEncoder(Protocol):
    """A sentence-embedding model, called from a worker thread."""

    name: str
    dimensions: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        ...


@dataclass(frozen=True, slots=True)
class Hit:
    """A passage and how well it matches the query: `score` = `similarity` (cosine of the
    embeddings, -1 to 1) + LEXICAL_WEIGHT × `overlap` (of rare words, 0 to 1)."""

    score: float
    passage: Passage
    similarity: float = 0.0
    overlap: float = 0.0


@dataclass(frozen=True, slots=True)
class SyncReport:
    added: list[str]  # documents read (new or changed)
    removed: list[str]
    failed: dict[str, str]  # document → why it could not be read
    passages: int  # in the index after the sync


class KnowledgeIndex:
    def __init__(self, folder: Path, store: Path, encoder: TextEncoder) -> None:
        self.folder = folder
        self.store = store
        self._encoder = encoder
        self._lock = threading.Lock()
        store.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(store / "passages.sqlite", check_same_thread=False)
        self._db.executescript(_SCHEMA)
        self._index_path = store / "vectors.usearch"
        self._index = self._new_index()
        if not self._load():
            self._reset()
        self._lexicon = Lexicon(
            Passage(*row).embedded_text
            for row in self._db.execute("SELECT path, title, heading, text FROM passages")
        )

    # --- opening -----------------------------------------------------------------------------
    def _meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM meta").fetchall())

    def _wanted_meta(self) -> dict[str, str]:
        return {
            "schema": SCHEMA_VERSION,
            "encoder": self._encoder.name,
            "dimensions": str(self._encoder.dimensions),
            "folder": str(self.folder),
        }

    def _load(self) -> bool:
        """Open the saved index; False when there is none that fits this folder and model."""
        if self._meta() != self._wanted_meta() or not self._index_path.exists():
            return False
        self._index.load(str(self._index_path))
        (count,) = self._db.execute("SELECT COUNT(*) FROM passages").fetchone()
        if len(self._index) != count:
            log.warning("knowledge index %s disagrees with its table: rebuilding", self.store)
            return False
        return True

    def _new_index(self) -> Index:
        return Index(ndim=self._encoder.dimensions, metric="cos", dtype="f32")

    def _reset(self) -> None:
        self._index = self._new_index()
        with self._db:
            self._db.execute("DELETE FROM files")
            self._db.execute("DELETE FROM passages")
            self._db.execute("DELETE FROM meta")
            self._db.executemany("INSERT INTO meta VALUES (?, ?)", self._wanted_meta().items())
        self._index_path.unlink(missing_ok=True)

    # --- keeping up with the folder ------------------------------------------------------------
    def fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        """(document, mtime_ns, size) of every document: cheap to compare, no reading."""
        found = []
        for path in documents(self.folder):
            try:
                stat = path.stat()
            except OSError:
                continue
            found.append((path.relative_to(self.folder).as_posix(), stat.st_mtime_ns, stat.st_size))
        return tuple(found)

    def sync(self) -> SyncReport:
        with self._lock:
            return self._sync()

    def _sync(self) -> SyncReport:
        known = {
            row[0]: row[1:]
            for row in self._db.execute("SELECT path, mtime_ns, size, sha256 FROM files")
        }
        changed: list[tuple[str, Path, int, int, str]] = []
        present: set[str] = set()
        for name, mtime_ns, size in self.fingerprint():
            present.add(name)
            old = known.get(name)
            if old is not None and (old[0], old[1]) == (mtime_ns, size):
                continue
            path = self.folder / name
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if old is not None and old[2] == digest:  # touched, not changed
                with self._db:
                    self._db.execute(
                        "UPDATE files SET mtime_ns = ?, size = ? WHERE path = ?",
                        (mtime_ns, size, name),
                    )
                continue
            changed.append((name, path, mtime_ns, size, digest))
        removed = sorted(set(known) - present)
        failed: dict[str, str] = {}
        for name in [*removed, *(c[0] for c in changed)]:
            self._drop(name)
        for name, path, mtime_ns, size, digest in changed:
            error = self._add(name, path)
            if error:
                failed[name] = error
            with self._db:
                self._db.execute(
                    "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)",
                    (name, mtime_ns, size, digest, error),
                )
        if changed or removed:
            self._save()
        added = [c[0] for c in changed if c[0] not in failed]
        return SyncReport(added, removed, failed, len(self._index))

    def _drop(self, name: str) -> None:
        rows = self._db.execute(
            "SELECT id, path, title, heading, text FROM passages WHERE path = ?", (name,)
        ).fetchall()
        for row in rows:
            self._lexicon.remove(Passage(*row[1:]).embedded_text)
        ids = [row[0] for row in rows]
        if ids:
            self._index.remove(np.array(ids, dtype=np.uint64))
        with self._db:
            self._db.execute("DELETE FROM passages WHERE path = ?", (name,))
            self._db.execute("DELETE FROM files WHERE path = ?", (name,))

    def _add(self, name: str, path: Path) -> str | None:
        """Read, embed and index one document; the reason it failed, or None."""
        try:
            passages = read_passages(path, self.folder)
        except (DocumentError, OSError) as exc:
            log.warning("knowledge: %s skipped: %s", name, exc)
            return str(exc)
        if not passages:
            return None
        vectors = self._encoder.encode([p.embedded_text for p in passages])
        for passage in passages:
            self._lexicon.add(passage.embedded_text)
        with self._db:
            ids = [
                int(
                    self._db.execute(
                        "INSERT INTO passages (path, title, heading, text) VALUES (?, ?, ?, ?)",
                        (p.document, p.title, p.heading, p.text),
                    ).lastrowid
                    or 0
                )
                for p in passages
            ]
        self._index.add(np.array(ids, dtype=np.uint64), np.asarray(vectors, dtype=np.float32))
        return None

    def _save(self) -> None:
        # The index first, then it replaces the old file at once: a reader never sees half.
        partial = self._index_path.with_suffix(".partial")
        self._index.save(str(partial))
        partial.replace(self._index_path)

    # --- asking ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._index)

    def search(self, vector: np.ndarray, k: int = 3, query: str = "") -> list[Hit]:
        """The `k` best passages for `vector` (a unit vector from the same encoder), re-ranked
        by their word overlap with `query` (the text `vector` was made from)."""
        with self._lock:
            if len(self._index) == 0:
                return []
            matches = self._index.search(np.asarray(vector, dtype=np.float32), max(k, CANDIDATES))
            keys = [int(key) for key in matches.keys]
            similarity = dict(zip(keys, (1.0 - float(d) for d in matches.distances), strict=True))
            rows = {
                row[0]: Passage(*row[1:])
                for row in self._db.execute(
                    f"SELECT id, path, title, heading, text FROM passages "
                    f"WHERE id IN ({','.join('?' * len(keys))})",
                    keys,
                )
            }
            hits = []
            for key, passage in rows.items():
                overlap = self._lexicon.overlap(query, passage.embedded_text) if query else 0.0
                score = similarity[key] + LEXICAL_WEIGHT * overlap
                hits.append(
                    Hit(round(score, 4), passage, round(similarity[key], 4), round(overlap, 3))
                )
        return sorted(hits, key=lambda hit: hit.score, reverse=True)[:k]

    def close(self) -> None:
        with self._lock:
            self._db.close()
