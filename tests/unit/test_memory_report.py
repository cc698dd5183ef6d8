"""server/memory_report.py: the opt-in memory report, its snapshots and diffs, loopback only;
server/memory.py's malloc_info reader."""

from __future__ import annotations

import sys
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from unittest import mock

import pytest
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from voxroom.config import ServerConfig, TransportConfig, VoxroomConfig
from voxroom.server import memory_report
from voxroom.server.app import create_app
from voxroom.server.auth import TokenAuthority
from voxroom.server.memory import parse_malloc_info

from .fakes import FakeAgent, fake_models

MALLOC_INFO = """<malloc version="1">
<heap nr="0">
<sizes>
<size from="17" to="32" total="64" count="2"/>
</sizes>
<total type="fast" count="2" size="64"/>
<total type="rest" count="3" size="1000"/>
<system type="current" size="200000"/>
<system type="max" size="300000"/>
<aspace type="total" size="200000"/>
<aspace type="mprotect" size="200000"/>
</heap>
<heap nr="1">
<sizes>
</sizes>
<total type="fast" count="0" size="0"/>
<total type="rest" count="1" size="4000"/>
<system type="current" size="100000"/>
<system type="max" size="100000"/>
<aspace type="total" size="100000"/>
<aspace type="mprotect" size="100000"/>
</heap>
<total type="fast" count="2" size="64"/>
<total type="rest" count="4" size="5000"/>
<total type="mmap" count="3" size="900000"/>
<system type="current" size="300000"/>
<system type="max" size="400000"/>
<aspace type="total" size="300000"/>
<aspace type="mprotect" size="300000"/>
</malloc>
"""

pytestmark = pytest.mark.usefixtures("undo_process_tuning")


def test_malloc_info_totals_are_the_process_wide_ones() -> None:
    stats = parse_malloc_info(MALLOC_INFO)

    assert stats.arenas == 2
    assert stats.arena_bytes == 300000  # the totals after the last heap, not heap 0's
    assert stats.free_bytes == 5064
    assert (stats.mmap_bytes, stats.mmap_count) == (900000, 3)
    assert stats.in_use_bytes == 300000 - 5064


@pytest.fixture
def tracing() -> Iterator[None]:
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start(1)
    yield
    if started:
        tracemalloc.stop()


async def served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enabled: bool, dev_mode: bool = True
) -> AsyncIterator[TestClient]:
    if enabled:
        monkeypatch.setenv(memory_report.ENABLE_ENV, "1")
    else:
        monkeypatch.delenv(memory_report.ENABLE_ENV, raising=False)
    monkeypatch.setenv(memory_report.DIR_ENV, str(tmp_path / "memory"))
    config = VoxroomConfig(
        server=ServerConfig(dev_mode=dev_mode),
        transport=TransportConfig(ice_addresses=["127.0.0.1"]),
    )
    config.audit.enabled = False
    app = create_app(config, fake_models(), FakeAgent, TokenAuthority("x" * 40))
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TestClient]:
    async for client in served(tmp_path, monkeypatch, enabled=True):
        yield client


@pytest.mark.parametrize(("enabled", "dev_mode"), [(False, True), (True, False)])
async def test_the_report_is_off_unless_asked_for_in_dev_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enabled: bool, dev_mode: bool
) -> None:
    async for client in served(tmp_path, monkeypatch, enabled, dev_mode):
        assert (await client.get("/api/v1/debug/memory")).status == 404


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and glibc")
async def test_report_puts_rss_beside_malloc_and_python(client: TestClient) -> None:
    response = await client.get("/api/v1/debug/memory", params={"types": "5"})

    assert response.status == 200
    body = await response.json()
    assert body["process"]["rss_mb"] > 10
    assert body["process"]["largest_mappings"]
    assert body["malloc"]["arena_mb"] > 0
    assert body["malloc"]["in_use_mb"] <= body["malloc"]["arena_mb"]
    assert body["python"]["gc_objects"] > 1000
    assert len(body["python"]["types"]) == 5


async def test_snapshots_diff_by_line(client: TestClient, tracing: None) -> None:
    assert (await client.post("/api/v1/debug/memory/snapshots", json={"label": "a"})).ok
    kept = [bytearray(1000) for _ in range(2000)]  # ~2 MB on this line
    assert (await client.post("/api/v1/debug/memory/snapshots", json={"label": "b"})).ok

    response = await client.get("/api/v1/debug/memory/diff", params={"from": "a", "to": "b"})

    assert response.status == 200
    top = (await response.json())["top"][0]
    assert "test_memory_report.py" in top["where"]
    assert top["size_diff_kb"] > 1900 and top["count_diff"] >= 2000
    del kept


async def test_snapshot_refusals(client: TestClient) -> None:
    bad = await client.post("/api/v1/debug/memory/snapshots", json={"label": "../x"})
    missing = await client.get("/api/v1/debug/memory/diff", params={"from": "no", "to": "ne"})

    assert bad.status == 400
    assert missing.status == 404
    if not tracemalloc.is_tracing():
        off = await client.post("/api/v1/debug/memory/snapshots", json={"label": "c"})
        assert off.status == 409
        assert "PYTHONTRACEMALLOC" in (await off.json())["error"]


async def test_only_loopback_clients_get_it(client: TestClient) -> None:
    app = client.app
    assert app is not None
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        ("192.0.2.7", 40000) if name == "peername" else default
    )
    request = make_mocked_request(
        "GET",
        "/api/v1/debug/memory",
        headers={"X-Forwarded-For": "127.0.0.1"},  # not trusted: the socket's address decides
        app=app,
        transport=transport,
    )
    handler = mock.AsyncMock()

    denied = await app.middlewares[-1](request, handler)

    assert denied.status == 403
    handler.assert_not_called()


async def test_trim_reports_rss_before_and_after(client: TestClient) -> None:
    response = await client.post("/api/v1/debug/memory/trim")

    body = await response.json()
    assert response.status == 200
    assert body["rss_after_mb"] > 0 and isinstance(body["released"], bool)


async def test_collect_reports_what_garbage_in_cycles_held(client: TestClient) -> None:
    for _ in range(100):  # unreachable cycles, each holding a 100 kB buffer
        node: dict[str, object] = {"buffer": bytearray(100_000)}
        node["self"] = node
    del node

    response = await client.post("/api/v1/debug/memory/collect")

    body = await response.json()
    assert response.status == 200
    assert body["collected"] >= 100
    if body["in_use_before_mb"] is not None:  # glibc
        assert body["in_use_before_mb"] - body["in_use_after_mb"] > 5


async def test_the_report_has_the_servers_heap_trims(client: TestClient) -> None:
    body = await (await client.get("/api/v1/debug/memory")).json()
    assert {"trims", "max_ms"} <= set(body["heap_trims"])


async def test_sigusr2_dump_writes_the_report(tmp_path: Path) -> None:
    path = memory_report.dump(memory_report.SnapshotStore(tmp_path))

    assert path.suffix == ".json" and '"malloc"' in path.read_text()
