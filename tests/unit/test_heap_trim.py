"""server/heap_trim.py: malloc_trim off the loop, when the server goes idle or at most once
per interval while sessions keep ending."""

from __future__ import annotations

import asyncio
import sys
import threading

import pytest

from voxroom.server import heap_trim
from voxroom.server.heap_trim import HeapTrimmer

from .fakes import eventually as _until


@pytest.fixture
def trims(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The threads malloc_trim ran on (a fake one)."""
    threads: list[str] = []

    def fake() -> bool:
        threads.append(threading.current_thread().name)
        return True

    monkeypatch.setattr(heap_trim, "malloc_trim", fake)
    return threads


def _trimmer(interval_s: float) -> HeapTrimmer:
    trimmer = HeapTrimmer(interval_s=interval_s)
    trimmer.enabled = True
    return trimmer


async def test_sessions_ending_together_trim_once_off_the_loop(trims: list[str]) -> None:
    trimmer = _trimmer(60.0)
    for live in (4, 3, 2, 1):
        trimmer.session_ended(live)
    await _until(lambda: trimmer.trims == 1)
    await asyncio.sleep(0.1)
    await trimmer.close()

    assert trimmer.trims == 1
    assert trims[0] != threading.main_thread().name


async def test_a_busy_server_trims_again_when_the_interval_is_up(trims: list[str]) -> None:
    trimmer = _trimmer(0.3)
    trimmer.session_ended(live=5)
    await _until(lambda: trimmer.trims == 1)
    trimmer.session_ended(live=5)  # within the interval: waits for it, not dropped
    await asyncio.sleep(0.1)
    assert trimmer.trims == 1
    await _until(lambda: trimmer.trims == 2)
    await trimmer.close()


async def test_the_last_session_ending_trims_at_once(trims: list[str]) -> None:
    trimmer = _trimmer(60.0)
    trimmer.session_ended(live=3)
    await _until(lambda: trimmer.trims == 1)
    trimmer.session_ended(live=2)  # waits up to 60 s…
    await asyncio.sleep(0.05)
    trimmer.session_ended(live=0)  # …unless the server goes idle
    await _until(lambda: trimmer.trims == 2, timeout=2.0)
    await trimmer.close()
    assert trimmer.collections == 1  # and then the garbage of finished sessions goes first


async def test_close_drops_a_waiting_trim(trims: list[str]) -> None:
    trimmer = _trimmer(60.0)
    trimmer.session_ended(live=1)
    await _until(lambda: trimmer.trims == 1)
    trimmer.session_ended(live=1)
    await asyncio.wait_for(trimmer.close(), 1.0)
    trimmer.session_ended(live=0)
    await asyncio.sleep(0.05)
    assert trimmer.trims == 1


async def test_a_failing_trim_turns_trimming_off(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> bool:
        raise OSError("no")

    monkeypatch.setattr(heap_trim, "malloc_trim", broken)
    trimmer = _trimmer(0.0)
    trimmer.session_ended(live=0)
    await _until(lambda: not trimmer.enabled)
    await trimmer.close()
    assert trimmer.trims == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc")
async def test_the_real_trim_runs() -> None:
    trimmer = HeapTrimmer(interval_s=0.0)
    assert trimmer.enabled
    blocks = [bytearray(200_000) for _ in range(50)]
    del blocks
    trimmer.session_ended(live=0)
    await _until(lambda: trimmer.trims == 1, timeout=10.0)
    await trimmer.close()
    assert trimmer.stats()["max_ms"] >= 0
