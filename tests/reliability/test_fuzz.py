"""Bounded fuzzing (hypothesis) of the HTTP API and the data channel: any input gets a clear
4xx or an `error` message, never a 500, a crash, or a dead session."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.fakes import FakeAgent, FakeLLM, FakeTransport, fake_models
from voxroom.agent.session import AgentSession
from voxroom.config import VoxroomConfig
from voxroom.server.app import create_app
from voxroom.server.auth import SESSION_SCOPE, TokenAuthority
from voxroom.transport.base import ParticipantInfo
from voxroom.transport.p2p.peer import P2PTransport, PeerParticipant

SECRET = "fuzz-secret-0123456789abcdef-0123456789"
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
ALLOWED = {400, 401, 403, 404, 405, 413, 415, 429}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
client_messages = st.one_of(
    st.dictionaries(
        st.sampled_from(["type", "text", "mode", "action", "x"]), json_values, max_size=4
    ),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["chat", "mode", "push_to_talk", "interrupt", "bogus"])},
        optional={"text": json_values, "mode": json_values, "action": json_values},
    ),
)


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    config = VoxroomConfig()
    config.server.rate_limit_per_minute = 1e9  # the fuzzer is one client: don't throttle it
    config.server.rate_limit_burst = 1_000_000
    config.audit.enabled = False
    app = create_app(config, fake_models(), FakeAgent, TokenAuthority(SECRET))
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client


@FUZZ
@given(
    body=st.binary(max_size=3000) | st.text(max_size=3000).map(str.encode),
    content_type=st.sampled_from(["application/sdp", "text/plain", "application/json", ""]),
    authorization=st.sampled_from(["valid", "none", "garbage", "wrong-scope"]),
)
async def test_session_endpoint_never_fails_unexpectedly(
    client: TestClient, body: bytes, content_type: str, authorization: str
) -> None:
    authority = TokenAuthority(SECRET)
    tokens = {
        "valid": "Bearer " + authority.issue("f", [SESSION_SCOPE], 60)[0],
        "garbage": "Bearer x.y.z",
        "wrong-scope": "Bearer " + authority.issue("f", ["audit"], 60)[0],
    }
    headers = {"Content-Type": content_type} if content_type else {}
    if authorization in tokens:
        headers["Authorization"] = tokens[authorization]
    response = await client.post("/api/v1/sessions", data=body, headers=headers)
    assert response.status in ALLOWED, (response.status, await response.text())
    assert "error" in await response.json(content_type=None)


@FUZZ
@given(
    path=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=60),
    method=st.sampled_from(["GET", "DELETE", "POST", "PUT"]),
)
async def test_arbitrary_paths_are_answered(client: TestClient, path: str, method: str) -> None:
    response = await client.request(
        method,
        "/api/v1/sessions/" + path.replace("?", "%3F"),
        headers={"Authorization": "Bearer nope"},
    )
    assert response.status < 500, (method, path, response.status)
    health = await client.get("/api/v1/health")
    assert health.status == 200


@FUZZ
@given(
    raw=st.one_of(
        st.text(max_size=200),
        st.binary(max_size=200),
        client_messages.map(json.dumps),
        st.integers(1, 5000).map(lambda n: "[" * n),
    )
)
def test_data_channel_parser_answers_everything(raw: str | bytes) -> None:
    transport = P2PTransport.__new__(P2PTransport)  # the parser only: no peer connection
    transport.peer = PeerParticipant(ParticipantInfo("fuzzer"))
    sent: list[dict[str, Any]] = []
    received: list[dict[str, Any]] = []
    transport.send = sent.append  # type: ignore[method-assign]
    transport._handler = lambda _sender, message: received.append(message)
    transport._on_raw_message(raw)
    assert len(sent) + len(received) == 1  # either handled or answered with an error
    assert all(m["type"] == "error" for m in sent)


@FUZZ
@given(messages=st.lists(client_messages, min_size=1, max_size=8))
async def test_session_survives_any_client_messages(messages: list[dict[str, Any]]) -> None:
    transport = FakeTransport()
    session = AgentSession(
        "fuzz", FakeAgent(), transport, fake_models(llm=FakeLLM(default="Ok.")), VoxroomConfig()
    )
    run = asyncio.create_task(session.run())
    await asyncio.sleep(0)
    for message in messages:
        transport.deliver(message)
    transport.deliver({"type": "mode", "mode": "hands_free"})
    transport.deliver({"type": "chat", "text": "still there?"})
    for _ in range(200):
        if any(
            m.get("type") == "transcript"
            and m.get("role") == "agent"
            and m.get("final")
            and m.get("text") == "Ok."
            for m in transport.sent
        ):
            break
        transport.audio_out.clear()
        await asyncio.sleep(0.01)
    assert not run.done(), run
    assert any(m.get("text") == "Ok." for m in transport.sent), transport.sent[-5:]
    await transport.close()
    await asyncio.wait_for(run, 5)
