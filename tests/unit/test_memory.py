"""server/memory.py: the malloc arena cap, checked in a fresh interpreter with glibc's own
report of its heaps (malloc_info)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CHILD = textwrap.dedent(
    """
    import ctypes, sys, threading
    from voxroom.server.memory import limit_malloc_arenas

    if sys.argv[1] == "capped":
        assert limit_malloc_arenas(2)
    start = threading.Barrier(8)

    def churn() -> None:
        start.wait()  # all at once: each thread that finds the heap locked gets an arena
        for _ in range(2000):
            blocks = [bytearray(4096) for _ in range(32)]
            del blocks

    threads = [threading.Thread(target=churn) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    report = libc.fopen(sys.argv[2].encode(), b"w")
    libc.malloc_info(0, ctypes.c_void_p(report))
    libc.fclose(ctypes.c_void_p(report))
    """
)


def arenas_after_churn(mode: str, tmp_path: Path) -> int:
    report = tmp_path / f"{mode}.xml"
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    subprocess.run([sys.executable, "-c", CHILD, mode, str(report)], check=True, env=env)
    return len(re.findall(r'<heap nr="\d+">', report.read_text()))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc")
def test_threads_share_two_arenas_once_capped(tmp_path: Path) -> None:
    # The uncapped run shows the test can tell: eight threads at once get several arenas.
    assert arenas_after_churn("default", tmp_path) > 2
    assert arenas_after_churn("capped", tmp_path) <= 2


def test_an_operators_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    from voxroom.server.memory import limit_malloc_arenas

    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False
