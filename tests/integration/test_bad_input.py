"""Hostile and malformed requests against the real server: clear errors, nothing else hurt."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from tests.conftest import RunningServer
from voxroom.client import VoxroomClient

pytestmark = pytest.mark.slow


async def _token(http: aiohttp.ClientSession, url: str) -> str:
    async with http.post(f"{url}/api/v1/tokens", json={}) as response:
        assert response.status == 200
        return str((await response.json())["token"])


async def _post_offer(
    http: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int, Any]:
    async with http.post(f"{url}/api/v1/sessions", data=body, headers=headers) as response:
        return response.status, await response.json(content_type=None)


async def test_bad_requests_get_clear_errors_while_a_session_keeps_working(
    server: RunningServer,
) -> None:
    live = VoxroomClient(server.url)
    await live.connect()
    try:
        async with aiohttp.ClientSession() as http:
            token = await _token(http, server.url)
            sdp = {"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"}

            status, body = await _post_offer(http, server.url, b"v=0\r\nthis is not sdp\r\n", sdp)
            assert status == 400 and "malformed SDP line" in body["error"]

            status, body = await _post_offer(http, server.url, b"hello", sdp)
            assert status == 400 and "v=0" in body["error"]

            status, body = await _post_offer(http, server.url, b"v=0\n" + b"a=x\n" * 40000, sdp)
            assert status == 413, body

            no_auth = {"Content-Type": "application/sdp"}
            status, body = await _post_offer(http, server.url, b"v=0\n", no_auth)
            assert status == 401 and "missing" in body["error"]

            forged = {**sdp, "Authorization": "Bearer " + token[:-4] + "AAAA"}
            status, body = await _post_offer(http, server.url, b"v=0\n", forged)
            assert status == 401 and "invalid" in body["error"]

            async with http.delete(
                f"{server.url}/api/v1/sessions/nope", headers={"Authorization": f"Bearer {token}"}
            ) as response:
                assert response.status == 404

        # Garbage on the data channel is answered, not fatal.
        live.send({"type": "no-such-type"})
        live._channel.send("{not json")
        await live.wait_for(lambda m: m.get("type") == "error", 10)

        live.send({"type": "chat", "text": "What is the capital of Italy?"})
        reply = await live.wait_for(
            lambda m: m.get("type") == "transcript" and m["role"] == "agent" and m["final"], 60
        )
        assert reply["text"].strip()
    finally:
        await live.close()
    await asyncio.sleep(0.2)
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/api/v1/health") as r:
        assert (await r.json())["status"] == "ok"
