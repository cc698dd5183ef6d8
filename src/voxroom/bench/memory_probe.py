"""The load benchmarks' view of a server's memory report (`server/memory_report.py`).

`memory_env()` is what the server needs in its environment for the report (and tracemalloc);
`MemoryProbe` takes labelled reports and snapshots over HTTP during a run and diffs them
afterwards, so a soak can say which lines kept the memory between two points.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from voxroom.server.memory_report import DIR_ENV, ENABLE_ENV

SNAPSHOT_TIMEOUT_S = 120.0  # a snapshot of a big traced heap takes seconds; diffs longer


def memory_env(directory: Path, trace_frames: int) -> dict[str, str]:
    """The server's environment for the report, with tracemalloc keeping `trace_frames`
    frames per allocation (0: no tracing, the report only)."""
    env = {ENABLE_ENV: "1", DIR_ENV: str(directory)}
    if trace_frames > 0:
        env["PYTHONTRACEMALLOC"] = str(trace_frames)
    return env


class MemoryProbe:
    def __init__(self, url: str) -> None:
        self.url = f"{url}/api/v1/debug/memory"
        self.reports: dict[str, dict[str, Any]] = {}
        self.snapshots: list[str] = []
        self.errors: list[str] = []

    async def checkpoint(self, http: aiohttp.ClientSession, label: str) -> None:
        """A report and (when the server traces) a snapshot, both under `label`."""
        timeout = aiohttp.ClientTimeout(total=SNAPSHOT_TIMEOUT_S)
        try:
            async with http.post(
                f"{self.url}/snapshots", json={"label": label}, timeout=timeout
            ) as response:
                if response.status == 200:
                    self.snapshots.append(label)
                elif response.status != 409:  # 409: not tracing, reports only
                    self.errors.append(f"snapshot {label}: {response.status}")
            async with http.get(self.url, params={"types": "15"}, timeout=timeout) as response:
                response.raise_for_status()
                self.reports[label] = await response.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.errors.append(f"{label}: {type(exc).__name__}: {exc}"[:200])

    async def diff(
        self,
        http: aiohttp.ClientSession,
        before: str,
        after: str,
        limit: int = 15,
        by: str = "lineno",
    ) -> list[dict[str, Any]]:
        if before not in self.snapshots or after not in self.snapshots:
            return []
        params = {"from": before, "to": after, "limit": str(limit), "by": by}
        timeout = aiohttp.ClientTimeout(total=SNAPSHOT_TIMEOUT_S)
        async with http.get(f"{self.url}/diff", params=params, timeout=timeout) as response:
            response.raise_for_status()
            top: list[dict[str, Any]] = (await response.json())["top"]
            return top

    async def collect(self, http: aiohttp.ClientSession) -> dict[str, Any]:
        """A full gc collection in the server: what garbage in cycles held (RSS, in use)."""
        async with http.post(f"{self.url}/collect") as response:
            response.raise_for_status()
            result: dict[str, Any] = await response.json()
            return result

    async def trim(self, http: aiohttp.ClientSession) -> dict[str, Any]:
        """malloc_trim(0) in the server: RSS before and after (the drop was fragmentation)."""
        async with http.post(f"{self.url}/trim") as response:
            response.raise_for_status()
            result: dict[str, Any] = await response.json()
            return result
