"""Audit fixtures: a store on each backend (SQLite file, real PostgreSQL server)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest

from tests.audit import pg
from voxroom.audit.store import AuditStore, sqlite_url

T = TypeVar("T")
_database_names = itertools.count(1)


def run_elsewhere(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on its own thread and loop (from sync code, whatever loop is around)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=60)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[pg.PostgresServer]:
    bin_dir = pg.find_bin_dir()
    if bin_dir is None:
        pytest.fail("PostgreSQL server binaries are required: apt-get install -y postgresql")
    server = pg.start(bin_dir)
    yield server
    pg.stop(server)


async def _create_database(server: pg.PostgresServer, name: str) -> None:
    conn = await asyncpg.connect(server.dsn())
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "audit.db")
    server: pg.PostgresServer = request.getfixturevalue("postgres_server")
    name = f"audit_{next(_database_names)}"
    run_elsewhere(_create_database(server, name))
    return server.url(name)


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[AuditStore]:
    async with AuditStore(db_url) as opened:
        yield opened
