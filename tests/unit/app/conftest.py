"""Fixtures of the HTTP-surface tests: an in-process app with fake providers, and the
process-wide aiortc tuning put back after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from voxroom.config import VoxroomConfig
from voxroom.server import sessions
from voxroom.server.app import create_app
from voxroom.server.auth import TokenAuthority

from ..fakes import FakeAgent, FakeLLM, FakeTTS, fake_models
from .rig import REPLY, SECRET, MakeClient, make_config


@pytest.fixture(autouse=True)
def quick_session_end(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sessions made from a stored offer never connect, and ending those waits END_TIMEOUT_S
    (see test_ending_a_session_whose_peer_never_connected_is_prompt): keep the suite fast."""
    if "never_connected" not in request.node.name:
        monkeypatch.setattr(sessions, "END_TIMEOUT_S", 0.2)


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    clients: list[TestClient] = []

    async def make(config: VoxroomConfig | None = None) -> TestClient:
        models = fake_models(llm=FakeLLM(default=REPLY), tts=FakeTTS(chunks=2, chunk_s=0.1))
        app = create_app(config or make_config(), models, FakeAgent, TokenAuthority(SECRET))
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def client(make_client: MakeClient) -> TestClient:
    return await make_client()
