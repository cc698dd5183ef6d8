"""Retention: delete sessions older than N days, their events and their files."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

from voxroom.audit.store import AuditStore

log = logging.getLogger(__name__)


async def purge(store: AuditStore, older_than_days: float, files_dir: Path | None) -> list[str]:
    """Delete from the store first (the record of what existed goes with the files), then
    each purged session's folder `files_dir/<session id>` (recordings), if any."""
    ids = await store.purge_older_than(older_than_days)
    if files_dir is not None and ids:
        await asyncio.to_thread(_remove_files, files_dir, ids)
    return ids


def _remove_files(files_dir: Path, ids: list[str]) -> None:
    root = files_dir.resolve()
    for session_id in ids:
        folder = (root / session_id).resolve()
        if folder.parent != root:  # an id that is not a plain name never leaves files_dir
            log.warning("audit: not removing files of session %r: not a plain name", session_id)
            continue
        if folder.is_dir():
            shutil.rmtree(folder)
