"""transport/janus/process.py and config.py: Janus as a supervised child, from its own config."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
from pathlib import Path

import pytest
from aiohttp import web

from voxroom.transport.janus.api import JanusConnection
from voxroom.transport.janus.config import JanusInstallation, pick_interface
from voxroom.transport.janus.errors import (
    JanusConnectionLost,
    JanusError,
    JanusNotInstalled,
    JanusStartError,
    NoInterfaceError,
)
from voxroom.transport.janus.process import JanusProcess

from .conftest import API_SECRET, janus_options


async def test_starts_and_answers_info_with_only_what_voxroom_needs(janus: JanusProcess) -> None:
    async with await JanusConnection.connect(janus.url) as connection:
        info = await connection.info()
    assert info["janus"] == "server_info"
    # The disable lists work: one plugin, one transport, no event handlers, no loggers.
    assert list(info["plugins"]) == ["janus.plugin.videoroom"]
    assert list(info["transports"]) == ["janus.transport.websockets"]
    assert info["events"] == {} and info["loggers"] == {}
    assert info["api_secret"] is True
    assert janus.interface == "vxa"
    assert "[WARN] Plugin 'libjanus_streaming.so' has been disabled" in janus.log_tail(200)


async def test_config_folder_is_ours_and_private(janus: JanusProcess) -> None:
    config = (janus.folder / "janus.jcfg").read_text()
    assert f'configs_folder = "{janus.folder}"' in config
    assert 'ice_enforce_list = "vxa"' in config
    assert 'rtp_port_range = "20000-20099"' in config
    websockets = (janus.folder / "janus.transport.websockets.jcfg").read_text()
    assert 'ws_ip = "127.0.0.1"' in websockets and "admin_ws = false" in websockets
    for path in janus.folder.glob("*.jcfg"):  # they hold the API secret and admin key
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_requests_without_the_api_secret_are_refused(janus: JanusProcess) -> None:
    async with await JanusConnection.connect(janus.url) as connection:
        with pytest.raises(JanusError) as refused:
            await connection.create_session()
    assert refused.value.code == 403


async def test_missing_binary_says_what_to_install(veth: str, tmp_path: Path) -> None:
    process = JanusProcess(tmp_path, janus_options(executable=str(tmp_path / "no-janus")))
    with pytest.raises(JanusNotInstalled, match="the Debian package janus is not installed"):
        await process.start()
    with pytest.raises(JanusNotInstalled, match="apt install janus"):
        await process.start()


async def test_a_janus_that_exits_at_start_is_reported_with_its_log(
    veth: str, tmp_path: Path
) -> None:
    fake = _script(tmp_path / "exits", "echo 'cannot start: bad config' && exit 3")
    options = janus_options(executable=str(fake), lib_dir=_real_modules())
    process = JanusProcess(tmp_path / "janus", options)
    with pytest.raises(JanusStartError, match=r"exited with code 3(.|\n)*bad config"):
        await process.start()


async def test_a_janus_that_never_answers_times_out_and_is_ended(veth: str, tmp_path: Path) -> None:
    hangs = _script(tmp_path / "hangs", "echo 'stuck somewhere' && exec sleep 60")
    options = janus_options(executable=str(hangs), lib_dir=_real_modules(), start_timeout_s=0.5)
    process = JanusProcess(tmp_path / "janus", options)
    with pytest.raises(JanusStartError, match=r"within 0.5 s(.|\n)*stuck somewhere"):
        await process.start()
    assert process.pid is None


def _real_modules() -> Path:
    return JanusInstallation.find().lib_dir


def _script(path: Path, body: str) -> Path:
    """A stand-in for the janus binary (the config still names the real modules)."""
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


async def test_another_janus_on_the_port_is_reported(janus: JanusProcess, tmp_path: Path) -> None:
    second = JanusProcess(tmp_path / "second", janus_options(start_timeout_s=3.0))
    with pytest.raises(JanusStartError, match="another Janus holds the port"):
        await second.start()
    assert second.pid is None  # the second child was ended


async def test_stop_ends_the_child(veth: str, tmp_path: Path) -> None:
    process = JanusProcess(tmp_path, janus_options())
    await process.start()
    pid = process.pid
    assert pid is not None
    await process.stop()
    assert process.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_killed_janus_is_restarted_and_clients_are_told(janus: JanusProcess) -> None:
    connection = await JanusConnection.connect(janus.url, api_secret=API_SECRET)
    session = await connection.create_session()
    handle = await session.attach()
    restarted = asyncio.Event()
    janus.on_restart(restarted.set)
    old_pid = janus.pid
    assert old_pid is not None

    os.kill(old_pid, signal.SIGKILL)
    async with asyncio.timeout(2):
        await session.closed.wait()
    assert connection.closed.is_set() and handle.closed.is_set()
    with pytest.raises(JanusConnectionLost):
        await handle.request({"request": "exists", "room": 1})

    async with asyncio.timeout(5):
        await restarted.wait()
    assert janus.restarts == 1
    assert janus.pid not in (None, old_pid)
    async with await JanusConnection.connect(janus.url, api_secret=API_SECRET) as again:
        rejoined = await again.create_session()
        assert rejoined.id != session.id
    await connection.close()


async def test_an_enforced_interface_that_does_not_exist_is_refused(
    veth: str, tmp_path: Path
) -> None:
    process = JanusProcess(tmp_path, janus_options(ice_enforce_list="vxa,nosuch0"))
    with pytest.raises(NoInterfaceError, match="'nosuch0' matches no interface"):
        await process.start()


def test_picks_an_interface_that_is_up_with_ipv4(veth: str) -> None:
    # In the test namespace only the veth end with 127.0.0.2 qualifies (lo is loopback).
    assert pick_interface() == "vxa"


async def test_events_can_go_to_a_webhook(veth: str, tmp_path: Path) -> None:
    posted: list[object] = []
    arrived = asyncio.Event()

    async def receive(request: web.Request) -> web.Response:
        body = await request.json()
        posted.extend(body if isinstance(body, list) else [body])  # grouped: a JSON array
        arrived.set()
        return web.Response()

    app = web.Application()
    app.router.add_post("/janus-events", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    options = janus_options(event_webhook=f"http://127.0.0.1:{port}/janus-events")
    try:
        async with (
            JanusProcess(tmp_path, options) as janus,
            await JanusConnection.connect(janus.url, api_secret=API_SECRET) as connection,
        ):
            session = await connection.create_session()
            handle = await session.attach()
            async with asyncio.timeout(5):
                while not any(_is_attach(event) for event in posted):
                    arrived.clear()
                    await arrived.wait()
            assert handle.id in [e["handle_id"] for e in posted if _is_attach(e)]  # type: ignore[index]
    finally:
        await runner.cleanup()


def _is_attach(event: object) -> bool:
    return (
        isinstance(event, dict)
        and event.get("type") == 2  # a handle event
        and event.get("event", {}).get("name") == "attached"
    )
