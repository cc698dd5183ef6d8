"""Start-up recovery: close the sessions a killed server left open and repair their WAVs.

A server killed mid-session (kill -9, OOM, power to the process cut) leaves its sessions
without a `session_ended` event, and maybe recordings whose last block is past the WAV
header (the three session files, and any participant's own file). A server starting on the
same audit folder finds them and closes them through the hash chain (`recording_saved` if
missing, then `session_ended` with reason "server_crashed").

Whose sessions? Each server process journals the ids of the sessions it runs in
`<audit dir>/instances/<random id>.sessions`, and holds an exclusive `flock` on that file for
its whole life. The kernel drops the lock when the process dies, however it dies, so a
journal whose lock can be taken belongs to a dead process (a held lock: a live one, left
alone). Only sessions listed in a dead process's journal *and* still open in the store are
closed: the sessions of any live process — on this machine, or on another one sharing a
PostgreSQL store — are never in a journal that can be locked here. A dead process's journal is
removed once all its sessions are closed; until then every start-up tries again. A live
process's journal grows by one line (~17 bytes) per session and is removed when it stops
cleanly with everything stored.

Limits: a process on another machine is recovered by a restart on that machine (its journal
is in its own audit folder); if that folder is gone, its sessions stay open (a session's end
is never invented for a server that may still be running).
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from voxroom.audit.events import Event, RecordingSaved, SessionEnded
from voxroom.audit.recorder import DEFAULT_RATE
from voxroom.audit.records import StoredEvent
from voxroom.audit.store import AuditStore
from voxroom.audit.wavfiles import (
    Files,
    NotARecording,
    RecordedFile,
    parse_participant_file,
    participant_slug,
    repair_recording,
)
from voxroom.audit.writer import AuditWriter

log = logging.getLogger(__name__)

CRASHED = "server_crashed"
_SUFFIX = ".sessions"
_PLAIN_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")  # what session ids are (secrets.token_urlsafe)


class SessionJournal:
    """This process's journal: the ids of the sessions it runs, one a line, under its lock."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path: Path | None = None
        self._fd: int | None = None

    def open(self) -> None:
        """Create and lock the journal. Locked under a temporary name, then renamed: a
        recovering process never sees it unlocked and takes its owner for dead."""
        self.directory.mkdir(parents=True, exist_ok=True)
        name = secrets.token_hex(8)
        staging = self.directory / f"{name}.new"
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else holds it
        self.path = self.directory / f"{name}{_SUFFIX}"
        os.rename(staging, self.path)
        self._fd = fd

    def add(self, session_id: str) -> None:
        """One unbuffered write: in the OS before the session's first event, so it survives
        the process being killed at any later point."""
        if self._fd is None:
            raise RuntimeError("the session journal is not open")
        os.write(self._fd, f"{session_id}\n".encode())

    def close(self, remove: bool) -> None:
        """Release the lock; `remove`: every session in it ended in the store (else the
        next start-up recovers what is still open)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if remove and self.path is not None:
            self.path.unlink(missing_ok=True)  # while still locked: nobody recovers it meanwhile
        os.close(fd)


async def recover(
    store: AuditStore, writer: AuditWriter, journals: Path, files_dir: Path
) -> list[str]:
    """Close the sessions of dead processes' journals in `journals`; return their ids.
    `writer` (started) appends the closing events. Never raises for one bad journal."""
    recovered: list[str] = []
    for journal in await asyncio.to_thread(_dead_journals, journals):
        try:
            recovered += await _recover_journal(store, writer, journal, files_dir)
        except Exception:  # the server must start anyway; the journal is retried next time
            log.exception("audit: recovery of %s failed", journal.path.name)
        finally:
            os.close(journal.fd)  # releases the lock
    return recovered


@dataclass(frozen=True)
class _DeadJournal:
    path: Path
    fd: int  # holds the lock while it is recovered
    ids: list[str]


def _dead_journals(journals: Path) -> list[_DeadJournal]:
    found = []
    for path in sorted(journals.glob(f"*{_SUFFIX}")):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:  # recovered and removed by another process meanwhile
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with open(fd, encoding="utf-8", errors="replace", closefd=False) as file:
                ids = list(dict.fromkeys(line.strip() for line in file if line.strip()))
        except BlockingIOError:  # locked: its process is alive, or another one recovers it
            os.close(fd)
            continue
        except OSError:
            os.close(fd)
            log.exception("audit: cannot read the session journal %s", path.name)
            continue
        found.append(_DeadJournal(path, fd, ids))
    return found


async def _recover_journal(
    store: AuditStore, writer: AuditWriter, journal: _DeadJournal, files_dir: Path
) -> list[str]:
    # Only open sessions: one that ended had its recording finalized before its end was
    # logged, so its files need nothing either.
    orphans = await store.open_sessions(journal.ids)
    for session_id in journal.ids:
        if session_id in orphans:
            files = await asyncio.to_thread(_repair_files, files_dir, session_id)
            await _close(store, writer, session_id, files)
    await writer.flush()
    still_open = await store.open_sessions(journal.ids)
    if still_open:
        log.error("audit: %d sessions of %s are still open; retried at the next start-up",
                  len(still_open), journal.path.name)  # fmt: skip
    else:  # while still locked: nobody starts recovering it meanwhile
        await asyncio.to_thread(journal.path.unlink, missing_ok=True)
    closed = [session_id for session_id in journal.ids if session_id in orphans - still_open]
    for session_id in closed:
        log.warning("audit: closed session %s, left open by a dead server", session_id)
    return closed


def _repair_files(files_dir: Path, session_id: str) -> Files | None:
    if not _PLAIN_ID.fullmatch(session_id):  # never a path outside files_dir
        return None
    return repair_or_leave(files_dir / session_id)


def repair_or_leave(folder: Path) -> Files | None:
    """`repair_recording`, or None (logged) where a file is not a recording's."""
    try:
        return repair_recording(folder, DEFAULT_RATE)
    except NotARecording:
        log.exception("audit: %s: recording left as it is", folder)
        return None


async def _close(
    store: AuditStore, writer: AuditWriter, session_id: str, files: Files | None
) -> None:
    """Append `recording_saved` (unless stored) and `session_ended`, stamped with the
    session's last sign of life: its last stored event, or the end of its recorded audio."""
    summary = await store.session(session_id)
    rows = await store.events(session_id)
    if summary is None or not rows:  # purged meanwhile (retention in another process)
        return
    last_seen = max([rows[-1].t, *(f.seconds for f in files or ())])
    closing: list[Event] = []
    if files is not None and not any(row.type == "recording_saved" for row in rows):
        closing.append(recording_event(files, rows))
    closing.append(SessionEnded(reason=CRASHED, recovered_at=time.time()))
    for seq, event in enumerate(closing, start=rows[-1].seq + 1):
        event.session_id = session_id
        event.seq = seq
        event.t = round(last_seen, 4)
        event.ts = summary.started_at + last_seen
        writer.submit(event)


def recording_event(files: Files, rows: list[StoredEvent]) -> RecordingSaved:
    """`recording_saved` for repaired files, keyed as the recorder keys them (`rows`: the
    events of the part they recorded, for the participants' identities)."""
    names = {"user": files.user, "agent": files.agent, "stereo": files.stereo}
    names.update(_participant_keys(files.participants, rows))
    return RecordingSaved(
        files={key: file.path.name for key, file in names.items()},
        sample_rate=files.stereo.sample_rate,
        duration=round(files.stereo.seconds, 3),
    )


def _participant_keys(
    participants: tuple[RecordedFile, ...], rows: list[StoredEvent]
) -> dict[str, RecordedFile]:
    """`participant:<identity>` → file, as the recorder keys them. A file name holds only a
    slug of the identity: each file (in join order) takes the first logged participant not
    taken yet whose identity gives its slug; one that matches none is keyed by its slug (by
    its file name's stem if that key is taken)."""
    logged = [
        data["identity"]
        for row in rows
        if row.type == "participant_joined"
        and (data := row.data()).get("role") == "user"
        and isinstance(data.get("identity"), str)
    ]
    candidates = list(dict.fromkeys(logged))  # a participant may rejoin: one file each
    keys: dict[str, RecordedFile] = {}
    for file in participants:
        parsed = parse_participant_file(file.path.name)
        slug = parsed[1] if parsed else file.path.stem
        identity = next((c for c in candidates if participant_slug(c) == slug), None)
        if identity is not None:
            candidates.remove(identity)
        key = f"participant:{slug if identity is None else identity}"
        keys[f"participant:{file.path.stem}" if key in keys else key] = file
    return keys
