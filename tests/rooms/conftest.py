"""The rooms API as tests drive it, against `room_server` (tests/conftest.py): a real
`voxroom dev` with rooms on a real embedded Janus, in the tests' private network namespace.
The test clients' aiortc peers gather on 127.0.0.2 (`ice_on_veth`), as Janus does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from tests.conftest import RunningServer
from tests.netns import ice_on_veth
from voxroom.client import RoomClient

__all__ = ["ice_on_veth"]  # fixtures


@dataclass
class RoomApi:
    """The rooms REST API as a test drives it, with dev tokens from loopback."""

    url: str
    http: aiohttp.ClientSession
    rooms_token: str = ""

    async def token(self, **body: Any) -> str:
        async with self.http.post(f"{self.url}/api/v1/tokens", json=body) as response:
            assert response.status == 200, await response.text()
            return str((await response.json())["token"])

    async def create_room(self, **body: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.rooms_token}"}
        async with self.http.post(f"{self.url}/api/v1/rooms", json=body, headers=headers) as r:
            assert r.status == 201, await r.text()
            return dict(await r.json())

    async def room(self, room_id: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.rooms_token}"}
        async with self.http.get(f"{self.url}/api/v1/rooms/{room_id}", headers=headers) as r:
            assert r.status == 200, await r.text()
            return dict(await r.json())

    async def end_room(self, room_id: str) -> int:
        headers = {"Authorization": f"Bearer {self.rooms_token}"}
        async with self.http.delete(f"{self.url}/api/v1/rooms/{room_id}", headers=headers) as r:
            return r.status

    async def join(
        self, room_id: str, identity: str, name: str, timeout: float = 15.0, **claims: str
    ) -> RoomClient:
        token = await self.token(room=room_id, identity=identity, name=name, **claims)
        client = RoomClient(self.url, token)
        await client.join(timeout)
        return client


@pytest.fixture
async def rooms(room_server: RunningServer, ice_on_veth: None) -> AsyncIterator[RoomApi]:
    async with aiohttp.ClientSession() as http:
        api = RoomApi(room_server.url, http)
        api.rooms_token = await api.token(scopes=["rooms"])
        yield api
