"""Process-wide memory settings for a long-running server.

glibc gives every thread that allocates while another holds the main heap its own arena (up to
8 per core), and memory freed into one arena serves only that arena's later allocations. The
server's threads (event loop, model pools, VAD, audit and recording writers) allocate audio and
inference buffers at different times, so RSS crept up with every session lifecycle: measured
here, 70 sequential spoken sessions, RSS 874 → 892 MB over the last 30 with glibc's default
and flat (918 → 918 MB) with 2 arenas. Two arenas keep the loop and the workers from queueing
on one lock while freed memory is reused.

`freeze_startup_objects` moves what start-up made (modules, models, the app) out of the
cyclic garbage collector's reach. A full collection walked all ~170k of them, took ~170 ms on
the event loop here and ran only once the objects promoted since the last one reached a
quarter of that count: every ten or so sessions, so the garbage cycles of finished sessions
(aiortc's peer objects with their codec and SRTP contexts, buffers) piled up between runs,
8 MB in use at the end of a short soak. Frozen, they are skipped: full collections walk only
what sessions made, often and briefly (Python's `gc.freeze`, meant for exactly such
long-lived start-up objects).

Below: glibc's own report of its heaps (malloc_info, for the memory report in `memory_report`)
and malloc_trim (`heap_trim`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import logging
import os
import re
import tempfile
from dataclasses import dataclass

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc's mallopt parameter
DEFAULT_ARENAS = 2


def limit_malloc_arenas(arenas: int = DEFAULT_ARENAS) -> bool:
    """Cap glibc's malloc arenas for this process; whether the cap was set. An operator's own
    MALLOC_ARENA_MAX wins, and another C library (no mallopt) is left alone."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError):
        return False
    if not mallopt(M_ARENA_MAX, arenas):
        log.warning("mallopt(M_ARENA_MAX, %d) was refused", arenas)
        return False
    return True


def freeze_startup_objects() -> int:
    """After start-up (models loaded, app built): collect start-up's garbage, freeze what is
    left and start the collector's counts afresh (see the module doc); the objects frozen."""
    gc.collect()
    gc.freeze()
    gc.collect()  # the next full collection waits for a quarter of what is not frozen
    return gc.get_freeze_count()


# --- glibc's own view of its heaps (the memory report, `memory_report`) --------------------
@dataclass(frozen=True, slots=True)
class MallocStats:
    """glibc's heaps, from malloc_info(3), in bytes.

    `arena_bytes`: what the arenas hold from the system; of that, `free_bytes` sits in free
    lists (fast + rest: reusable by malloc, not given back: fragmentation when it grows while
    in use stays flat); `mmap_bytes`: large blocks (≥ 128 KiB by default, glibc raises that
    threshold as such blocks are freed) mapped one by one and unmapped when freed. That is
    address space: pages never touched (a model's scratch buffers) are not resident."""

    arenas: int
    arena_bytes: int
    free_bytes: int
    mmap_bytes: int
    mmap_count: int

    @property
    def in_use_bytes(self) -> int:
        """Allocated from the arenas (the mapped blocks are apart: see `mmap_bytes`)."""
        return self.arena_bytes - self.free_bytes


_TOTAL = re.compile(r'<total type="(fast|rest|mmap)" count="(\d+)" size="(\d+)"/>')
_SYSTEM = re.compile(r'<system type="current" size="(\d+)"/>')


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """glibc (found once: find_library runs ldconfig), or None with another C library."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        libc.malloc_info  # noqa: B018  # glibc only
    except (OSError, AttributeError):
        return None
    return libc


def malloc_info_xml() -> str | None:
    """glibc's malloc_info(0) report (XML), or None with another C library."""
    libc = _libc()
    if libc is None:
        return None
    libc.fdopen.restype = ctypes.c_void_p
    libc.fdopen.argtypes = [ctypes.c_int, ctypes.c_char_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    with tempfile.TemporaryFile() as out:
        stream = libc.fdopen(os.dup(out.fileno()), b"w")
        if not stream:
            return None
        libc.malloc_info(0, stream)
        libc.fclose(stream)
        out.seek(0)
        return out.read().decode(errors="replace")


def parse_malloc_info(xml: str) -> MallocStats:
    """The process-wide totals at the end of a malloc_info report."""
    tail = xml[xml.rfind("</heap>") :] if "</heap>" in xml else xml
    totals = {kind: (int(count), int(size)) for kind, count, size in _TOTAL.findall(tail)}
    system = _SYSTEM.search(tail)
    return MallocStats(
        arenas=len(re.findall(r'<heap nr="\d+">', xml)),
        arena_bytes=int(system.group(1)) if system else 0,
        free_bytes=totals.get("fast", (0, 0))[1] + totals.get("rest", (0, 0))[1],
        mmap_bytes=totals.get("mmap", (0, 0))[1],
        mmap_count=totals.get("mmap", (0, 0))[0],
    )


def malloc_stats() -> MallocStats | None:
    xml = malloc_info_xml()
    return None if xml is None else parse_malloc_info(xml)


def malloc_trim_available() -> bool:
    return _libc() is not None


def malloc_trim() -> bool:
    """Give free memory at the top of each arena, and whole free pages inside them, back to
    the system (malloc_trim(0)); whether anything was released. A diagnostic: RSS that
    drops here was fragmentation, not live data."""
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0))
