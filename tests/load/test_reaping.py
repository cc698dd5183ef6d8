"""Peers that leave without a DELETE: the server must notice by itself and release the
session (health count back to what it was, sockets closed)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from voxroom.bench.load import (
    LoadClient,
    LoadServer,
    ProcessProbe,
    abandoned_offer,
    fetch_token,
    health,
    load_server,
    wait_for_sessions,
)
from voxroom.bench.sessions import WORKER_MODULE
from voxroom.bench.workers import WorkerProcess

pytestmark = pytest.mark.slow

# ICE consent freshness (RFC 7675 in aioice): 6 missed checks ~5 s apart, so up to ~36 s.
CONSENT_EXPIRY_S = 45.0


@pytest.fixture(scope="module")
def load(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoadServer]:
    with load_server(tmp_path_factory.mktemp("reaping"), max_sessions=8) as server:
        yield server


async def _released(server: LoadServer, before: int, timeout: float) -> tuple[bool, int, float]:
    async with aiohttp.ClientSession() as http:
        return await wait_for_sessions(http, server.url, before, timeout)


async def _count(server: LoadServer) -> int:
    async with aiohttp.ClientSession() as http:
        return await health(http, server.url)


async def test_peer_closing_without_delete_is_released(load: LoadServer) -> None:
    probe = ProcessProbe(load.process)
    before, fds = await _count(load), probe.fds()
    client = LoadClient(load.url)
    await client.connect()
    await asyncio.sleep(1.0)
    assert await _count(load) == before + 1
    await client.vanish()  # the tab closes: no DELETE
    released, seen, _ = await _released(load, before, timeout=10)
    assert released, f"{seen} sessions live\n{load.log()[-3000:]}"
    await asyncio.sleep(0.5)
    assert probe.fds() <= fds
    assert load.errors() == [], "\n\n".join(load.errors())


async def test_killed_client_process_is_released(load: LoadServer, tmp_path: Path) -> None:
    probe = ProcessProbe(load.process)
    before, fds = await _count(load), probe.fds()
    worker = await WorkerProcess.start(
        WORKER_MODULE, ["--worker", load.url], tmp_path / "worker.log"
    )
    reply = await worker.request({"cmd": "add", "count": 2}, timeout=60)
    assert reply["ok"] == 2, reply
    assert await _count(load) == before + 2
    worker.kill()  # SIGKILL: no DELETE, no DTLS close, nothing
    await worker.wait()
    released, seen, waited = await _released(load, before, timeout=CONSENT_EXPIRY_S + 15)
    assert released, f"{seen} sessions live after {waited} s\n{load.log()[-3000:]}"
    await asyncio.sleep(0.5)
    assert probe.fds() <= fds
    assert load.errors() == [], "\n\n".join(load.errors())


async def test_abandoned_offer_is_released(load: LoadServer) -> None:
    """The client POSTs an offer, gets the answer and never completes ICE (it answers the
    server's connectivity checks for a moment but never nominates a pair), then goes away."""
    before = await _count(load)
    status = await abandoned_offer(load.url, await fetch_token(load.url), hold_s=2.0)
    assert status == 201
    released, seen, waited = await _released(load, before, timeout=CONSENT_EXPIRY_S + 15)
    assert released, f"{seen} sessions still live {waited} s after the client left"
