"""What the app benchmarks (`bench assist`, `bench translate`) share: a `voxroom dev` whose
rooms run on a real embedded Janus in this private network namespace (`bench/netns.py`),
rooms made for a shipped app, people let in with a role and a language, and their espeak-ng
voices."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from voxroom.bench.harness import espeak_wav, trim_silence
from voxroom.bench.netns import VETH_ADDRESS
from voxroom.client import CallClient, RoomClient
from voxroom.media.audio import read_wav

Audio = tuple[np.ndarray, int]
Message = dict[str, Any]


def app_server_env(interface: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A server whose Janus runs ICE on `interface` (the veth: 127.0.0.2), as the aiortc peers
    of the simulated people do."""
    return {
        "VOXROOM_TRANSPORT__ICE_ADDRESSES": f"127.0.0.1,{VETH_ADDRESS}",
        "VOXROOM_ROOMS__JANUS_ICE_INTERFACE": interface,
        "VOXROOM_ROOMS__JANUS_RTP_PORTS": "22000-22199",
        "VOXROOM_SERVER__RATE_LIMIT_PER_MINUTE": "100000",  # every client is 127.0.0.x
        "VOXROOM_SERVER__RATE_LIMIT_BURST": "10000",
        **(extra or {}),
    }


@dataclass
class AppRooms:
    """The rooms REST API (docs/protocol.md, "Rooms") with dev tokens from loopback."""

    url: str
    http: aiohttp.ClientSession
    token: str = ""

    async def _post(self, path: str, body: dict[str, Any], token: str | None = None) -> Message:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.post(f"{self.url}{path}", json=body, headers=headers) as response:
            if response.status not in (200, 201):
                raise RuntimeError(f"POST {path}: {response.status} {await response.text()}")
            return dict(await response.json())

    async def create_room(self, agent: str, name: str = "bench") -> Message:
        if not self.token:
            self.token = str((await self._post("/api/v1/tokens", {"scopes": ["rooms"]}))["token"])
        return await self._post("/api/v1/rooms", {"name": name, "agent": agent}, self.token)

    async def join(self, room_id: str, identity: str, name: str, **claims: str) -> RoomClient:
        """A participant with `claims` (role, language) in their join token."""
        body = {"identity": identity, "name": name, **claims}
        token = await self._post(f"/api/v1/rooms/{room_id}/tokens", body, self.token)
        client = RoomClient(self.url, str(token["token"]))
        try:
            await client.join()
        except BaseException:
            await client.leave()
            raise
        return client

    async def end_room(self, room_id: str) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self.http.delete(f"{self.url}/api/v1/rooms/{room_id}", headers=headers):
            pass


@dataclass
class Voices:
    """espeak-ng speech at 130 wpm, silence trimmed, made once per (text, voice)."""

    workdir: Path
    _made: dict[tuple[str, str], Audio] = field(default_factory=dict)

    def get(self, text: str, voice: str) -> Audio:
        if (text, voice) not in self._made:
            digest = hashlib.sha1(f"{voice}\n{text}".encode()).hexdigest()[:12]
            path = self.workdir / f"{voice}-{digest}.wav"
            samples, rate = read_wav(espeak_wav(text, path, voice=voice, words_per_minute=130))
            self._made[(text, voice)] = (trim_silence(samples), rate)
        return self._made[(text, voice)]


def arrivals(
    client: CallClient, match: Callable[[Message], bool], after: float, until: float = float("inf")
) -> list[tuple[float, Message]]:
    """(arrival time, message) of the messages `client` got between `after` and `until`."""
    return [(t, m) for t, m in client.messages if after <= t <= until and match(m)]


async def quiet_for(
    client: CallClient,
    match: Callable[[Message], bool],
    quiet_s: float,
    after: float,
    timeout: float,
) -> None:
    """Wait until no message matching `match` has arrived for `quiet_s`, counted from the
    last one that arrived since `after` or from `after` itself (or until `timeout`). Pass the
    end of an utterance as `after`: a caption of its first half must not end the wait."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = max((t for t, _ in arrivals(client, match, after)), default=after)
        if time.monotonic() - last >= quiet_s:
            return
        await asyncio.sleep(0.1)


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {"cpu_cores": os.cpu_count(), "load_avg_1m": round(load[0], 2)}
