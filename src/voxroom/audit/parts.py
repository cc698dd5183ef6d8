"""The recording of a session continued by other fleet workers, part by part.

Part 1 records in the session's folder; part n (2, 3, …) in `part-<n>/` while it runs, then
its files move beside part 1's as `part-<n>-<file>` (the audit API serves only plain names of
the session folder). A part whose worker was killed never saved its files: the worker that
continues the session repairs them (`audit.wavfiles`) and logs them.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from voxroom.audit.events import RecordingSaved
from voxroom.audit.records import StoredEvent
from voxroom.audit.recovery import recording_event, repair_or_leave


def part_folder(part: int) -> str:
    """The folder (in the session's) a continued session's part 2, 3, … records in."""
    return f"part-{part}"


def flatten_part(folder: Path, files: dict[str, str], part: int) -> dict[str, str]:
    """Move a saved part's files up into the session's folder as `part-<n>-<name>`."""
    moved = {}
    for key, name in files.items():
        target = f"{part_folder(part)}-{name}"
        (folder / name).replace(folder.parent / target)
        moved[key] = target
    with contextlib.suppress(OSError):
        folder.rmdir()
    return moved


def recover_lost_part(session_dir: Path, rows: list[StoredEvent]) -> RecordingSaved | None:
    """Repair the recording of the session's last part, whose worker died, and return its
    `recording_saved` (None: nothing was recorded, or it was saved). `rows`: the session's
    stored events; the part began at its last `redispatched` (part 1: at the start)."""
    began = max((i for i, row in enumerate(rows) if row.type == "redispatched"), default=None)
    part_rows = rows if began is None else rows[began:]
    if any(row.type == "recording_saved" for row in part_rows):
        return None
    part = 1 if began is None else int(rows[began].data().get("part", 2))
    folder = session_dir if part == 1 else session_dir / part_folder(part)
    files = repair_or_leave(folder)
    if files is None:
        return None
    saved = recording_event(files, part_rows)
    if part > 1:
        saved.files = flatten_part(folder, saved.files, part)
        saved.start = round(rows[began].t, 3) if began is not None else 0.0
    return saved
