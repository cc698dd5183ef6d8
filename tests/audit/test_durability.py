"""kill -9 durability: a process recording a busy session is killed mid-write. The SQLite
store must be intact, hold every event emitted more than a second before the kill, and its
hash chain must verify for what is there."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from voxroom.audit.export import verify_session
from voxroom.audit.store import AuditStore

CHILD = Path(__file__).with_name("durability_child.py")
RUN_S = 3.0
MAX_LOSS_S = 1.0


def test_kill_9_loses_at_most_the_last_second(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    emitted: list[tuple[float, int]] = []  # (when the parent read it, seq)
    first = threading.Event()

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            emitted.append((time.monotonic(), int(line)))
            first.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert first.wait(60), f"child did not start: {child.stderr and child.stderr.read()}"
        time.sleep(RUN_S)
        killed_at = time.monotonic()
        child.send_signal(signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
    reader.join(5)

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        stored = [seq for (seq,) in conn.execute("SELECT seq FROM events ORDER BY seq")]
    must_have = [seq for when, seq in emitted if when < killed_at - MAX_LOSS_S]
    assert len(must_have) > 50, "the child emitted too little to judge"
    assert stored == list(range(1, len(stored) + 1))  # a prefix: no holes
    assert set(must_have) <= set(stored), f"lost {sorted(set(must_have) - set(stored))[:10]}"
    assert len(stored) <= len(emitted)

    async def check() -> None:
        async with AuditStore(str(db)) as store:
            result = await verify_session(store, "durable")
            assert result.ok and result.checked == len(stored), result.message()

    asyncio.run(check())
