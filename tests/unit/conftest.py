"""Unit-test fixtures: a real aiortc SDP offer (made once, on loopback only), session rigs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import aioice.ice
import aiortc.rtcrtpreceiver
import aiortc.rtcrtpsender
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from voxroom.transport.webrtc import tuning

from .session_rig import MakeRig, rig_factory


async def _make_offer() -> str:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.addTransceiver("audio", direction="sendrecv")
        pc.createDataChannel("voxroom")
        await pc.setLocalDescription(await pc.createOffer())
        return str(pc.localDescription.sdp)
    finally:
        await pc.close()


@pytest.fixture(scope="session")
def offer_sdp() -> str:
    """A complete offer (audio + data channel, gathered candidates) as aiortc clients send it.

    Made on its own thread and loop so it never touches the tests' event loops."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _make_offer()).result(timeout=30)


@pytest.fixture(autouse=True)
def private_cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Nothing a unit test does may land in the user's ~/.cache/voxroom (audit DB, secret)."""
    monkeypatch.setenv("VOXROOM_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
async def make_rig() -> AsyncIterator[MakeRig]:
    """Builds AgentSessions over fakes (see session_rig.Rig); ends them after the test."""
    async for make in rig_factory():
        yield make


@pytest.fixture
def undo_process_tuning(monkeypatch: pytest.MonkeyPatch) -> None:
    """create_app() patches aiortc/aioice process-wide: put everything back afterwards
    (`pytestmark = pytest.mark.usefixtures("undo_process_tuning")` where apps are made)."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses", aioice.ice.get_host_addresses)
    monkeypatch.setattr(aiortc.rtcrtpreceiver, "JitterBuffer", aiortc.rtcrtpreceiver.JitterBuffer)
    rtp = aiortc.rtcrtpsender.rtp
    monkeypatch.setattr(rtp, "compute_audio_level_dbov", rtp.compute_audio_level_dbov)
    monkeypatch.setitem(tuning._settings, "prefetch", tuning._settings["prefetch"])
