"""Where the server's memory is: an opt-in report for developers (docs/reliability.md).

RSS alone cannot tell a leak of Python objects from native buffers that were never released
(PyAV/FFmpeg codecs, onnxruntime, CTranslate2, llama.cpp, OpenSSL/libsrtp contexts) or from
freed memory glibc keeps (fragmentation). The report puts them side by side:

- `process`: RSS from /proc (anonymous, file-backed), threads, fds, and the largest mappings;
- `malloc`: glibc's malloc_info — what the arenas hold from the system, what of it is free
  (in free lists: reusable, not returned), and the large blocks mapped one by one;
- `python`: tracemalloc's traced bytes (Python objects and numpy buffers) when tracing is on,
  the gc's live objects by type, asyncio tasks;
- tracemalloc snapshots, kept on disk and diffed by line (or traceback).

Off unless `VOXROOM_MEMORY_REPORT=1` (and dev mode); its routes answer loopback clients only:

- `GET /api/v1/debug/memory`: the report (`?types=N`: the N most common object types);
- `POST /api/v1/debug/memory/snapshots` `{"label": "s100"}`: take a tracemalloc snapshot;
- `GET /api/v1/debug/memory/diff?from=s100&to=s1000&limit=25&by=lineno|traceback`;
- `POST /api/v1/debug/memory/collect`: a full gc collection, RSS and glibc's memory in use
  before and after (what drops was held by garbage in reference cycles, native buffers too);
- `POST /api/v1/debug/memory/trim`: malloc_trim(0), RSS before and after (what drops was
  fragmentation).

`SIGUSR2` writes the report (and a snapshot when tracing) to the folder
(`VOXROOM_MEMORY_REPORT_DIR`, default `<cache dir>/memory`) without any HTTP. Tracing is
Python's own switch, `PYTHONTRACEMALLOC=<frames>` in the server's environment (it slows the
server down: for soaks and diagnosis, not for production).
"""

from __future__ import annotations

import asyncio
import collections
import gc
import json
import logging
import os
import re
import signal
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from voxroom.server.memory import malloc_stats, malloc_trim

log = logging.getLogger(__name__)

ENABLE_ENV = "VOXROOM_MEMORY_REPORT"
DIR_ENV = "VOXROOM_MEMORY_REPORT_DIR"
MB = 2**20
_LABEL = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# Frames that are tracemalloc's own bookkeeping or the import system's, not the server's.
_NOISE = (
    tracemalloc.Filter(False, tracemalloc.__file__),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
    tracemalloc.Filter(False, "<unknown>"),
)


def enabled() -> bool:
    return os.environ.get(ENABLE_ENV, "").lower() in ("1", "true", "yes", "on")


# --- readings --------------------------------------------------------------------------------
def _status() -> dict[str, int]:
    """The kB fields of /proc/self/status (VmRSS, RssAnon, RssFile, …) in bytes."""
    fields: dict[str, int] = {}
    try:
        with open("/proc/self/status") as status:
            for line in status:
                name, _, value = line.partition(":")
                parts = value.split()
                if len(parts) == 2 and parts[1] == "kB":
                    fields[name] = int(parts[0]) * 1024
                elif name == "Threads":
                    fields[name] = int(parts[0])
    except OSError:
        pass
    return fields


def largest_mappings(limit: int = 8) -> list[dict[str, Any]]:
    """Resident bytes by mapping name (a library or model file, [heap], [anon], [stack])."""
    sizes: collections.Counter[str] = collections.Counter()
    name = "[anon]"
    try:
        with open("/proc/self/smaps") as smaps:
            for line in smaps:
                head = line.split(maxsplit=5)
                if head and re.fullmatch(r"[0-9a-f]+-[0-9a-f]+", head[0]):
                    name = head[5].strip() if len(head) > 5 else "[anon]"
                    name = Path(name).name if name.startswith("/") else name
                elif head and head[0] == "Rss:":
                    sizes[name] += int(head[1]) * 1024
    except OSError:
        return []
    return [{"mapping": n, "rss_mb": round(b / MB, 1)} for n, b in sizes.most_common(limit)]


def object_types(limit: int) -> list[dict[str, Any]]:
    """The gc's live objects, the most common types first."""
    counts = collections.Counter(
        f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects()
    )
    return [{"type": t, "count": c} for t, c in counts.most_common(limit)]


def report(types: int = 0) -> dict[str, Any]:
    status = _status()
    heap = malloc_stats()
    traced, traced_peak = tracemalloc.get_traced_memory() if tracemalloc.is_tracing() else (0, 0)
    out: dict[str, Any] = {
        "at": time.time(),
        "process": {
            "rss_mb": round(status.get("VmRSS", 0) / MB, 1),
            "rss_anon_mb": round(status.get("RssAnon", 0) / MB, 1),
            "rss_file_mb": round(status.get("RssFile", 0) / MB, 1),
            "threads": status.get("Threads", 0),
            "fds": len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None,
            "largest_mappings": largest_mappings(),
        },
        "malloc": None
        if heap is None
        else {
            "arenas": heap.arenas,
            "arena_mb": round(heap.arena_bytes / MB, 1),
            "free_mb": round(heap.free_bytes / MB, 1),  # held by glibc, reusable
            "mmap_mb": round(heap.mmap_bytes / MB, 1),  # address space, not all resident
            "mmap_count": heap.mmap_count,
            "in_use_mb": round(heap.in_use_bytes / MB, 1),
        },
        "python": {
            "tracing_frames": tracemalloc.get_traceback_limit() if tracemalloc.is_tracing() else 0,
            "traced_mb": round(traced / MB, 1),
            "traced_peak_mb": round(traced_peak / MB, 1),
            "allocated_blocks": sys.getallocatedblocks(),
            "gc_objects": len(gc.get_objects()),
            "asyncio_tasks": _task_count(),
        },
    }
    if types:
        out["python"]["types"] = object_types(types)
    return out


def _task_count() -> int | None:
    try:
        return len(asyncio.all_tasks())
    except RuntimeError:  # no running loop (a signal handler outside it)
        return None


# --- snapshots -------------------------------------------------------------------------------
class SnapshotStore:
    """tracemalloc snapshots by label, on disk (a snapshot of a big heap is tens of MB)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, label: str) -> Path:
        if not _LABEL.fullmatch(label):
            raise ValueError("a label is 1-64 letters, digits, '_', '-' or '.'")
        return self.directory / f"{label}.snap"

    def take(self, label: str) -> Path:
        path = self.path(label)
        if not tracemalloc.is_tracing():
            raise RuntimeError("tracemalloc is off: start the server with PYTHONTRACEMALLOC=N")
        self.directory.mkdir(parents=True, exist_ok=True)
        gc.collect()  # what is garbage now is not a leak
        tracemalloc.take_snapshot().filter_traces(_NOISE).dump(str(path))
        return path

    def diff(
        self, before: str, after: str, limit: int = 25, by: str = "lineno"
    ) -> list[dict[str, Any]]:
        """The biggest growths from `before` to `after`, grouped `by` line or traceback."""
        if by not in ("lineno", "traceback", "filename"):
            raise ValueError("by must be lineno, traceback or filename")
        old, new = (tracemalloc.Snapshot.load(str(self.path(x))) for x in (before, after))
        stats = new.compare_to(old, by)
        return [
            {
                "where": _where(stat.traceback, by),
                "size_diff_kb": round(stat.size_diff / 1024, 1),
                "count_diff": stat.count_diff,
                "size_kb": round(stat.size / 1024, 1),
            }
            for stat in stats[:limit]
        ]


def _where(traceback: tracemalloc.Traceback, by: str) -> str | list[str]:
    return traceback.format()[-12:] if by == "traceback" else str(traceback)


def dump(store: SnapshotStore) -> Path:
    """The report (and a snapshot when tracing) to the store's folder; the report's path."""
    label = time.strftime("%Y%m%d-%H%M%S")
    store.directory.mkdir(parents=True, exist_ok=True)
    path = store.directory / f"{label}.json"
    path.write_text(json.dumps(report(types=40), indent=1))
    if tracemalloc.is_tracing():
        store.take(label)
    return path


# --- routes and signal -----------------------------------------------------------------------
STORE = web.AppKey("memory_snapshots", SnapshotStore)
HEAP_TRIMS = web.AppKey[Callable[[], dict[str, Any]]]("heap_trims")


def add_memory_report(
    app: web.Application,
    directory: Path,
    from_loopback: Callable[[web.Request], bool],
    heap_trims: Callable[[], dict[str, Any]] | None = None,
) -> None:
    """The debug routes (loopback clients only) and the SIGUSR2 dump. `heap_trims`: the
    server's own malloc_trim figures (`heap_trim.HeapTrimmer.stats`), put in the report."""
    app[STORE] = SnapshotStore(directory)
    app[HEAP_TRIMS] = heap_trims or dict

    @web.middleware
    async def loopback_only(
        request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        if request.path.startswith("/api/v1/debug/") and not from_loopback(request):
            return web.json_response({"error": "loopback clients only"}, status=403)
        response: web.StreamResponse = await handler(request)
        return response

    app.middlewares.append(loopback_only)
    app.router.add_get("/api/v1/debug/memory", _get_report)
    app.router.add_post("/api/v1/debug/memory/snapshots", _post_snapshot)
    app.router.add_get("/api/v1/debug/memory/diff", _get_diff)
    app.router.add_post("/api/v1/debug/memory/collect", _post_collect)
    app.router.add_post("/api/v1/debug/memory/trim", _post_trim)

    async def on_signal(_: web.Application) -> None:
        loop = asyncio.get_running_loop()

        def signalled() -> None:
            log.info("memory report written to %s", dump(app[STORE]))

        try:
            loop.add_signal_handler(signal.SIGUSR2, signalled)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, Windows
            log.debug("no SIGUSR2 memory dump in this process")

    app.on_startup.append(on_signal)
    log.warning(
        "memory report on: /api/v1/debug/memory (loopback), SIGUSR2 dumps to %s; tracemalloc %s",
        directory,
        "on" if tracemalloc.is_tracing() else "off (PYTHONTRACEMALLOC=N turns it on)",
    )


def _int(request: web.Request, name: str, default: int) -> int:
    try:
        return max(0, min(int(request.query.get(name, default)), 500))
    except ValueError:
        return default


async def _get_report(request: web.Request) -> web.Response:
    out = report(types=_int(request, "types", 0))
    out["heap_trims"] = request.app[HEAP_TRIMS]()
    return web.json_response(out)


async def _post_snapshot(request: web.Request) -> web.Response:
    body = await request.json() if request.can_read_body else {}
    label = str(body.get("label", "")) if isinstance(body, dict) else ""
    try:
        path = await asyncio.to_thread(request.app[STORE].take, label or time.strftime("%H%M%S"))
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    except RuntimeError as exc:
        return web.json_response({"error": str(exc)}, status=409)
    return web.json_response({"label": path.stem, "path": str(path), **report()["python"]})


async def _get_diff(request: web.Request) -> web.Response:
    store = request.app[STORE]
    before, after = request.query.get("from", ""), request.query.get("to", "")
    by = request.query.get("by", "lineno")
    try:
        top = await asyncio.to_thread(store.diff, before, after, _int(request, "limit", 25), by)
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    except FileNotFoundError:
        return web.json_response({"error": "no such snapshot"}, status=404)
    return web.json_response({"from": before, "to": after, "by": by, "top": top})


async def _post_collect(request: web.Request) -> web.Response:
    before, heap_before = _status().get("VmRSS", 0), malloc_stats()
    started = time.monotonic()
    collected = gc.collect()  # on the loop, as the interpreter's own collections run
    took_ms = (time.monotonic() - started) * 1000
    after, heap_after = _status().get("VmRSS", 0), malloc_stats()
    return web.json_response(
        {
            "collected": collected,
            "took_ms": round(took_ms, 1),
            "rss_before_mb": round(before / MB, 1),
            "rss_after_mb": round(after / MB, 1),
            "in_use_before_mb": heap_before and round(heap_before.in_use_bytes / MB, 1),
            "in_use_after_mb": heap_after and round(heap_after.in_use_bytes / MB, 1),
        }
    )


async def _post_trim(request: web.Request) -> web.Response:
    before = _status().get("VmRSS", 0)
    started = time.monotonic()
    released = await asyncio.to_thread(malloc_trim)  # as the server's own trims run
    took_ms = (time.monotonic() - started) * 1000
    after = _status().get("VmRSS", 0)
    return web.json_response(
        {
            "released": released,
            "took_ms": round(took_ms, 1),
            "rss_before_mb": round(before / MB, 1),
            "rss_after_mb": round(after / MB, 1),
        }
    )
