"""transport/janus/api.py against a real Janus: transactions, errors, lifetimes, keepalive."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from voxroom.transport.janus.api import JanusConnection, JanusEvent, JanusHandle
from voxroom.transport.janus.errors import JanusConnectionLost, JanusError
from voxroom.transport.janus.process import JanusProcess
from voxroom.transport.janus.videoroom import NO_SUCH_ROOM

from .conftest import API_SECRET, janus_options


async def collect(handle: JanusHandle) -> list[JanusEvent]:
    return [event async for event in handle.events()]


async def test_plugin_errors_raise_with_code_and_reason(connection: JanusConnection) -> None:
    session = await connection.create_session()
    handle = await session.attach("janus.plugin.videoroom")
    with pytest.raises(JanusError) as synchronous:
        await handle.request({"request": "exists"})
    assert (synchronous.value.code, synchronous.value.reason) == (
        429,
        "Missing mandatory element (room)",
    )
    # An asynchronous request fails in the event after the ack.
    with pytest.raises(JanusError) as asynchronous:
        await handle.message({"request": "join", "ptype": "publisher", "room": 999})
    assert asynchronous.value.code == NO_SUCH_ROOM
    with pytest.raises(JanusError) as core:  # a core error: no such plugin
        await session.attach("janus.plugin.nothing")
    assert core.value.code == 460


async def test_a_token_rides_along_and_requests_still_work(janus: JanusProcess) -> None:
    # Janus ignores `token` unless its own token auth is on; voxroom's gateway reads it.
    async with await JanusConnection.connect(
        janus.url, token="browser-token", api_secret=API_SECRET
    ) as connection:
        session = await connection.create_session()
        handle = await session.attach()
        assert (await handle.request({"request": "exists", "room": 1}))["exists"] is False


async def test_detach_ends_the_handle_events(connection: JanusConnection) -> None:
    session = await connection.create_session()
    handle = await session.attach()
    events = asyncio.ensure_future(collect(handle))
    await handle.detach()
    async with asyncio.timeout(2):
        received = await events
    # Janus also announces the detach on the handle: seen if it comes before its reply.
    assert {event.kind for event in received} <= {"detached"}
    assert handle.closed.is_set() and not session.closed.is_set()
    await handle.detach()  # a no-op once closed


async def test_closing_the_connection_closes_sessions_and_handles(janus: JanusProcess) -> None:
    connection = await JanusConnection.connect(janus.url, api_secret=API_SECRET)
    session = await connection.create_session()
    handle = await session.attach()
    events = asyncio.ensure_future(collect(handle))
    await connection.close()
    async with asyncio.timeout(2):
        await events
    assert connection.closed.is_set() and session.closed.is_set() and handle.closed.is_set()
    with pytest.raises(JanusConnectionLost):
        await session.attach()


async def test_keepalives_hold_a_session_past_its_timeout(veth: str, tmp_path: Path) -> None:
    async with (
        JanusProcess(tmp_path, janus_options(session_timeout_s=1)) as janus,
        await JanusConnection.connect(
            janus.url, api_secret=API_SECRET, keepalive_interval_s=0.3
        ) as keeping,
        await JanusConnection.connect(
            janus.url, api_secret=API_SECRET, keepalive_interval_s=60
        ) as silent,
    ):
        kept = await keeping.create_session()
        dropped = await silent.create_session()
        async with asyncio.timeout(6):  # Janus's session watchdog looks every 2 s
            await dropped.closed.wait()
        assert not kept.closed.is_set()
        assert isinstance(await kept.attach(), JanusHandle)
