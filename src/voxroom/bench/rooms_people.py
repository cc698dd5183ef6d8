"""The simulated people of `voxroom bench rooms`: the rooms REST API they are let in
through, their espeak-ng voices, and waiting until the agent has had its say."""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from voxroom.bench.harness import espeak_wav, trim_silence
from voxroom.client import CallClient, RoomClient
from voxroom.client.base import SPEECH_DBFS
from voxroom.media.audio import read_wav

Audio = tuple[np.ndarray, int]  # (int16 mono samples, sample rate)


@dataclass
class RoomsApi:
    """Rooms REST calls (docs/protocol.md, "Rooms") with a dev `rooms` token from loopback."""

    url: str
    http: aiohttp.ClientSession
    token: str = ""

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def authorize(self) -> None:
        body = {"scopes": ["rooms"]}
        async with self.http.post(f"{self.url}/api/v1/tokens", json=body) as response:
            response.raise_for_status()
            self.token = str((await response.json())["token"])

    async def create_room(self, name: str, policy: str = "addressed") -> dict[str, Any]:
        body = {"name": name, "policy": policy}
        async with self.http.post(
            f"{self.url}/api/v1/rooms", json=body, headers=self._headers
        ) as response:
            if response.status != 201:
                raise RuntimeError(f"room refused: {response.status} {await response.text()}")
            return dict(await response.json())

    async def join_token(self, room_id: str, identity: str, name: str) -> str:
        body = {"identity": identity, "name": name}
        async with self.http.post(
            f"{self.url}/api/v1/rooms/{room_id}/tokens", json=body, headers=self._headers
        ) as response:
            response.raise_for_status()
            return str((await response.json())["token"])

    async def join(self, room_id: str, identity: str, name: str) -> RoomClient:
        client = RoomClient(self.url, await self.join_token(room_id, identity, name))
        try:
            await client.join()
        except BaseException:
            await client.leave()
            raise
        return client

    async def end_room(self, room_id: str) -> None:
        async with self.http.delete(f"{self.url}/api/v1/rooms/{room_id}", headers=self._headers):
            pass


@dataclass
class Utterances:
    """espeak-ng speech at 140 wpm (`espeak_wav`), silence trimmed, made once per (text,
    voice) in `workdir`."""

    workdir: Path
    _made: dict[tuple[str, str], Audio] = field(default_factory=dict)

    def get(self, text: str, voice: str) -> Audio:
        key = (text, voice)
        if key not in self._made:
            digest = hashlib.sha1(f"{voice}\n{text}".encode()).hexdigest()[:12]
            path = espeak_wav(text, self.workdir / f"{voice}-{digest}.wav", voice=voice)
            samples, rate = read_wav(path)
            self._made[key] = (trim_silence(samples), rate)
        return self._made[key]


def agent_state(client: CallClient) -> str:
    """The agent's latest `state` message ("listening" before any)."""
    for _, message in reversed(client.messages):
        if message.get("type") == "state":
            return str(message["state"])
    return "listening"


def last_agent_speech(client: CallClient) -> float | None:
    """When the newest voiced frame of the agent arrived (None: it has not spoken)."""
    received = client.received
    for arrived, level in zip(reversed(received.times), reversed(received.levels), strict=True):
        if level > SPEECH_DBFS:
            return arrived
    return None


async def wait_agent_quiet(client: CallClient, quiet_s: float, timeout: float = 90.0) -> bool:
    """Until the agent is listening and has not been heard for `quiet_s`; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        heard = last_agent_speech(client)
        silent_for = time.monotonic() - heard if heard is not None else float("inf")
        if agent_state(client) == "listening" and silent_for >= quiet_s:
            return True
        await asyncio.sleep(0.1)
    return False
