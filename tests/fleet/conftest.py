"""A real local fleet for the tests: Redis, PostgreSQL, two Janus servers, the API and two
workers, each a real process (`voxroom.worker.local`), in the tests' private network
namespace (Janus runs ICE on the veth carrying 127.0.0.2, as in tests/rooms)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from tests.netns import VETH_ADDRESS, ice_on_veth
from voxroom.client import RoomClient
from voxroom.worker import local
from voxroom.worker.local_services import alive

__all__ = ["ice_on_veth"]  # fixtures

DRAIN_TIMEOUT_S = 3.0


@pytest.fixture(scope="module")
def fleet(veth: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[local.FleetState]:
    plan = local.FleetPlan(
        tmp_path_factory.mktemp("fleet"),
        workers=2,
        janus=2,
        api_port=0,
        janus_interface=veth,
        rtp_base=23000,
        drain_timeout_s=DRAIN_TIMEOUT_S,
        env={
            "VOXROOM_TRANSPORT__ICE_ADDRESSES": f"127.0.0.1,{VETH_ADDRESS}",
            "VOXROOM_SERVER__RATE_LIMIT_PER_MINUTE": "100000",
            "VOXROOM_SERVER__RATE_LIMIT_BURST": "10000",
        },
    )
    state = local.up(plan)
    yield state
    local.down(state, drain_timeout_s=DRAIN_TIMEOUT_S)


def live_workers(state: local.FleetState) -> list[local.Proc]:
    return [w for w in state.workers if alive(w.pid)]


def ensure_two_workers(state: local.FleetState) -> None:
    """Restart workers a test killed or drained, so every test starts with two."""
    while len(live_workers(state)) < 2:
        name = f"worker-{len(state.workers) + 1}"
        extra = {"VOXROOM_FLEET__DRAIN_TIMEOUT_S": str(DRAIN_TIMEOUT_S)}
        state.workers.append(local.start_worker(state, name, extra))
    state.save()


def kill(proc: local.Proc, sig: int = signal.SIGKILL) -> None:
    os.kill(proc.pid, sig)


@dataclass
class FleetApi:
    """The fleet's API as a test drives it (dev tokens from loopback)."""

    state: local.FleetState
    http: aiohttp.ClientSession
    rooms_token: str = ""

    @property
    def url(self) -> str:
        return self.state.url

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.rooms_token}"}

    async def token(self, **body: Any) -> str:
        async with self.http.post(f"{self.url}/api/v1/tokens", json=body) as response:
            assert response.status == 200, await response.text()
            return str((await response.json())["token"])

    async def create_room(self, **body: Any) -> dict[str, Any]:
        async with self.http.post(
            f"{self.url}/api/v1/rooms", json=body, headers=self.headers
        ) as response:
            assert response.status == 201, await response.text()
            return dict(await response.json())

    async def room(self, room_id: str) -> dict[str, Any] | None:
        async with self.http.get(
            f"{self.url}/api/v1/rooms/{room_id}", headers=self.headers
        ) as response:
            return None if response.status == 404 else dict(await response.json())

    async def end_room(self, room_id: str) -> None:
        async with self.http.delete(f"{self.url}/api/v1/rooms/{room_id}", headers=self.headers):
            pass

    async def fleet(self) -> dict[str, Any]:
        async with self.http.get(f"{self.url}/api/v1/fleet", headers=self.headers) as response:
            return dict(await response.json())

    async def join(self, room_id: str, identity: str = "alice", name: str = "Alice") -> RoomClient:
        client = RoomClient(self.url, await self.token(room=room_id, identity=identity, name=name))
        await client.join(30)
        return client


@pytest.fixture
async def api(fleet: local.FleetState, ice_on_veth: None) -> AsyncIterator[FleetApi]:
    await asyncio.to_thread(ensure_two_workers, fleet)
    async with aiohttp.ClientSession() as http:
        fleet_api = FleetApi(fleet, http)
        fleet_api.rooms_token = await fleet_api.token(scopes=["rooms", "audit"])
        yield fleet_api


def answered(message: dict[str, Any]) -> bool:
    return (
        message.get("type") == "transcript"
        and message["role"] == "agent"
        and message["final"]
        and bool(message["text"])
    )


async def ask_again_until_answered(
    client: RoomClient, text: str, tries: int = 3, each_s: float = 30.0
) -> None:
    """Chat to an agent that has just come back to the room (another worker's), and ask
    again if no answer comes. Janus relays a participant's data only to subscribers whose
    channel is open, and the returning agent's subscription to us can come up after its
    feed reached us: a chat sent in that moment is lost (docs/protocol.md: from the agent's
    `participant` `joined` on, messages reach it), as the fleet tests found under load. A
    person would ask again; the continued session must still answer."""
    for _ in range(tries):
        after = time.monotonic()
        client.send({"type": "chat", "text": text})
        with contextlib.suppress(TimeoutError):
            await client.wait_for(answered, each_s, after=after)
            return
    raise TimeoutError(f"no answer to {text!r} in {tries} tries")


async def wait_until(predicate: Any, timeout: float, step: float = 0.05) -> float:
    """Poll an async predicate; returns the seconds it took (TimeoutError after `timeout`)."""
    started = time.monotonic()
    while not await predicate():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"not within {timeout} s")
        await asyncio.sleep(step)
    return time.monotonic() - started
