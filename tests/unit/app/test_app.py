"""server/app.py + server/sessions.py: the HTTP surface, in-process, with fake providers."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from voxroom.client import VoxroomClient
from voxroom.config import IceServer
from voxroom.server import sessions
from voxroom.server.app import AUTHORITY, REGISTRY
from voxroom.server.auth import SESSION_SCOPE
from voxroom.server.sessions import SessionLimitReached

from ..fakes import FakeAgent, eventually, fake_models
from .rig import REPLY, MakeClient, auth, error_of, make_config, sdp_headers, token

pytestmark = pytest.mark.usefixtures("undo_process_tuning")


# --- POST /api/v1/sessions: refusals -----------------------------------------------------
async def test_session_without_token_is_401(client: TestClient, offer_sdp: str) -> None:
    response = await client.post(
        "/api/v1/sessions", data=offer_sdp, headers={"Content-Type": "application/sdp"}
    )

    assert response.status == 401
    assert await error_of(response) == "missing bearer token"


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (lambda: "garbage", "invalid token"),
        (lambda: token(secret="some-other-secret-0123456789abcdef"), "invalid token"),
        (lambda: token(ttl_s=-10), "token expired"),
        (lambda: token(scopes=["admin"]), "lacks the 'session' scope"),
    ],
)
async def test_session_with_bad_token_is_401(
    client: TestClient, offer_sdp: str, bad: Callable[[], str], reason: str
) -> None:
    response = await client.post("/api/v1/sessions", data=offer_sdp, headers=sdp_headers(bad()))

    assert response.status == 401
    assert reason in await error_of(response)
    assert (await (await client.get("/api/v1/health")).json())["sessions"] == 0


async def test_session_with_wrong_content_type_is_415(client: TestClient, offer_sdp: str) -> None:
    response = await client.post(
        "/api/v1/sessions", json={"sdp": offer_sdp, "type": "offer"}, headers=auth()
    )

    assert response.status == 415
    assert "application/sdp" in await error_of(response)


async def test_session_body_over_the_limit_is_413(client: TestClient) -> None:
    body = "v=0\r\n" + "a=x\r\n" * (64 * 1024 // 5 + 1)
    assert len(body) > 64 * 1024

    response = await client.post("/api/v1/sessions", data=body, headers=sdp_headers())

    assert response.status == 413
    assert "65536" in await error_of(response)


async def test_session_body_limit_is_configurable(make_client: MakeClient, offer_sdp: str) -> None:
    small = await make_client(make_config(max_sdp_bytes=1000))

    response = await small.post("/api/v1/sessions", data=offer_sdp, headers=sdp_headers())

    assert response.status == 413


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"hello", "must start with 'v=0'"),
        (b"v=0\r\nnot sdp at all\r\n", "malformed SDP line"),
        (b"v=0\r\n\xff\xfe\r\n", "UTF-8"),
        (b"", "must start with 'v=0'"),
    ],
)
async def test_malformed_sdp_is_400_with_the_reason(
    client: TestClient, body: bytes, reason: str
) -> None:
    response = await client.post("/api/v1/sessions", data=body, headers=sdp_headers())

    assert response.status == 400
    assert reason in await error_of(response)


async def test_offer_without_fingerprint_is_400(client: TestClient, offer_sdp: str) -> None:
    stripped = re.sub(r"a=fingerprint:[^\r\n]*\r\n", "", offer_sdp)

    response = await client.post("/api/v1/sessions", data=stripped, headers=sdp_headers())

    assert response.status == 400
    assert "fingerprint" in await error_of(response)


async def test_offer_rejected_by_aiortc_is_400_and_leaves_no_session(
    client: TestClient, offer_sdp: str
) -> None:
    no_setup = offer_sdp.replace("a=setup:actpass\r\n", "")

    response = await client.post("/api/v1/sessions", data=no_setup, headers=sdp_headers())

    assert response.status == 400
    assert (await error_of(response)).startswith("offer rejected: ")
    assert (await (await client.get("/api/v1/health")).json())["sessions"] == 0


async def test_offer_rejected_with_an_empty_aiortc_error_still_says_why(
    client: TestClient, offer_sdp: str
) -> None:
    bad_m_line = re.sub(r"m=audio \d+", "m=audio abc", offer_sdp)

    response = await client.post("/api/v1/sessions", data=bad_m_line, headers=sdp_headers())

    assert response.status == 400
    assert (await error_of(response)) != "offer rejected: "


async def test_session_limit_is_503(make_client: MakeClient, offer_sdp: str) -> None:
    full = await make_client(make_config(max_sessions=0))

    response = await full.post("/api/v1/sessions", data=offer_sdp, headers=sdp_headers())

    assert response.status == 503
    assert "session limit" in await error_of(response)


@pytest.mark.parametrize("case", ["valid-offer", "oversized"])
async def test_chunked_session_body_is_read_in_full(
    client: TestClient, offer_sdp: str, case: str
) -> None:
    if case == "valid-offer":
        cut = offer_sdp.index("a=fingerprint:")
        parts = [offer_sdp[:cut].encode(), offer_sdp[cut:].encode()]
        expected = 201
    else:
        parts = [b"v=0\r\n" + b"a=x\r\n" * 7000, b"a=x\r\n" * 7000]  # 2 × ~35 KB > 64 KiB
        expected = 413

    async def body() -> AsyncIterator[bytes]:
        for part in parts:
            yield part
            await asyncio.sleep(0.05)  # the second chunk arrives a moment later

    response = await client.post("/api/v1/sessions", data=body(), headers=sdp_headers())

    assert response.status == expected, await response.text()


# --- DELETE ------------------------------------------------------------------------------
async def test_delete_unknown_session_is_404(client: TestClient) -> None:
    response = await client.delete("/api/v1/sessions/no-such-session", headers=auth())

    assert response.status == 404
    assert await error_of(response) == "no such session"


async def test_delete_without_token_is_401(client: TestClient) -> None:
    response = await client.delete("/api/v1/sessions/whatever")

    assert response.status == 401


# --- small GET endpoints -----------------------------------------------------------------
async def test_health_reports_ok_and_the_session_count(client: TestClient) -> None:
    response = await client.get("/api/v1/health")

    assert response.status == 200
    assert await response.json() == {"status": "ok", "sessions": 0, "inbound_backlog_frames": 0}


async def test_config_lists_no_ice_servers_by_default(client: TestClient) -> None:
    response = await client.get("/api/v1/config")

    assert response.status == 200
    assert await response.json() == {"ice_servers": [], "agent_video": False}


async def test_config_lists_the_configured_ice_servers(make_client: MakeClient) -> None:
    config = make_config()
    config.transport.ice_servers = [
        IceServer(urls=["stun:stun.example.org:3478"]),
        IceServer(urls=["turn:turn.example.org"], username="u", credential="p"),
    ]
    client = await make_client(config)

    body = await (await client.get("/api/v1/config")).json()

    assert body == {
        "ice_servers": [
            {"urls": ["stun:stun.example.org:3478"]},
            {"urls": ["turn:turn.example.org"], "username": "u", "credential": "p"},
        ],
        "agent_video": False,
    }


async def test_index_serves_the_playground_page(client: TestClient) -> None:
    response = await client.get("/")

    assert response.status == 200
    assert response.content_type == "text/html"
    assert "<html" in (await response.text()).lower()


async def test_static_files_are_served_but_not_listed(client: TestClient) -> None:
    script = await client.get("/static/app.js")
    listing = await client.get("/static/")
    escape = await client.get("/static/../server/auth.py")

    assert script.status == 200
    assert listing.status in (403, 404)
    assert escape.status in (403, 404)


# --- the full path -----------------------------------------------------------------------
async def test_full_session_chat_round_trip_over_webrtc(client: TestClient) -> None:
    base = str(client.make_url("")).rstrip("/")
    peer = VoxroomClient(base)
    try:
        await asyncio.wait_for(peer.connect(), 15)
        assert peer.session_url is not None
        session_id = peer.session_url.rsplit("/", 1)[1]
        info = await peer.wait_for(lambda m: m["type"] == "session", timeout=5)
        assert info == {
            "type": "session",
            "session_id": session_id,
            "agent": "fake agent",
            "llm": "fake-llm:unknown",
        }
        assert (await (await client.get("/api/v1/health")).json())["sessions"] == 1

        sent_at = time.monotonic()
        peer.send({"type": "chat", "text": "hi"})
        user = await peer.wait_for(
            lambda m: m["type"] == "transcript" and m["role"] == "user", timeout=5
        )
        final = await peer.wait_for(
            lambda m: m["type"] == "transcript" and m["role"] == "agent" and m["final"],
            timeout=10,
        )
        await eventually(lambda: peer.received.first_speech_after(sent_at) is not None, 3)

        expected_user = {"type": "transcript", "role": "user", "final": True, "text": "hi"}
        who = {"participant": "playground", "name": "playground"}  # the token's identity
        assert user == {**expected_user, "turn_id": 1, **who}
        assert final["text"] == REPLY
        assert final["interrupted"] is False
        interims = [m["text"] for m in peer.transcripts("agent", final=False)]
        assert interims == ["Hello from the fake agent.", REPLY]
        states = [m["state"] for _, m in peer.messages if m["type"] == "state"]
        assert states == ["listening", "thinking", "speaking", "listening"]
        assert any(m["type"] == "turn_metrics" for _, m in peer.messages)

        response = await client.delete(
            f"/api/v1/sessions/{session_id}", headers={"Authorization": f"Bearer {peer._token}"}
        )
        assert response.status == 204
        assert (await (await client.get("/api/v1/health")).json())["sessions"] == 0
        again = await client.delete(
            f"/api/v1/sessions/{session_id}", headers={"Authorization": f"Bearer {peer._token}"}
        )
        assert again.status == 404
    finally:
        peer.session_url = None  # already deleted
        await peer.close()


async def test_created_session_answers_with_sdp_and_location(
    client: TestClient, offer_sdp: str
) -> None:
    response = await client.post("/api/v1/sessions", data=offer_sdp, headers=sdp_headers())

    assert response.status == 201
    assert response.content_type == "application/sdp"
    location = response.headers["Location"]
    assert re.fullmatch(r"/api/v1/sessions/[A-Za-z0-9_-]{16}", location)
    answer = await response.text()
    assert answer.startswith("v=0") and "a=fingerprint:" in answer and "m=audio" in answer
    assert "a=sendrecv" in answer
    assert (await client.delete(location, headers=auth())).status == 204


# --- registry ----------------------------------------------------------------------------
async def test_registry_enforces_the_limit(client: TestClient, offer_sdp: str) -> None:
    registry = client.server.app[REGISTRY]
    registry._config.server.max_sessions = 1

    session_id, _ = await registry.create(offer_sdp)
    with pytest.raises(SessionLimitReached):
        await registry.create(offer_sdp)

    assert len(registry) == 1
    assert await registry.end(session_id) is True
    assert len(registry) == 0


async def test_registry_limit_holds_for_concurrent_offers(
    client: TestClient, offer_sdp: str
) -> None:
    registry = client.server.app[REGISTRY]
    registry._config.server.max_sessions = 1

    results = await asyncio.gather(
        registry.create(offer_sdp), registry.create(offer_sdp), return_exceptions=True
    )

    assert len(registry) == 1
    assert sum(isinstance(r, SessionLimitReached) for r in results) == 1


async def test_app_shutdown_ends_live_sessions(make_client: MakeClient, offer_sdp: str) -> None:
    client = await make_client()
    registry = client.server.app[REGISTRY]
    await registry.create(offer_sdp)
    assert len(registry) == 1

    await client.close()

    assert len(registry) == 0


def test_authority_is_the_one_given(client: TestClient) -> None:
    assert client.server.app[AUTHORITY].verify(f"Bearer {token()}", SESSION_SCOPE)


async def test_bad_data_channel_messages_get_errors_and_the_session_goes_on(
    client: TestClient,
) -> None:
    peer = VoxroomClient(str(client.make_url("")).rstrip("/"))
    try:
        await asyncio.wait_for(peer.connect(), 15)
        peer._channel.send("not json")
        peer._channel.send('{"no": "type"}')
        peer._channel.send('{"type": "chat"}')
        await peer.wait_for(lambda m: m.get("message", "").startswith("invalid message"), 5)
        peer.send({"type": "chat", "text": "still there?"})
        final = await peer.wait_for(
            lambda m: m["type"] == "transcript" and m["role"] == "agent" and m["final"],
            timeout=10,
        )
        errors = [m["message"] for _, m in peer.messages if m["type"] == "error"]
        assert final["text"] == REPLY
        assert "messages must be JSON objects" in errors
        assert "messages need a string 'type'" in errors
    finally:
        await peer.close()


async def test_deeply_nested_json_message_does_not_break_the_data_channel(
    client: TestClient,
) -> None:
    peer = VoxroomClient(str(client.make_url("")).rstrip("/"))
    try:
        await asyncio.wait_for(peer.connect(), 15)
        peer._channel.send("[" * 5000)
        peer.send({"type": "chat", "text": "still there?"})
        final = await peer.wait_for(
            lambda m: m["type"] == "transcript" and m["role"] == "agent" and m["final"],
            timeout=2,
        )
        assert final["text"] == REPLY
    finally:
        await peer.close()


async def test_failing_agent_factory_does_not_leak_the_peer_connection(
    offer_sdp: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[sessions.P2PTransport] = []

    class Recorded(sessions.P2PTransport):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            made.append(self)

    def broken_agent() -> FakeAgent:
        raise RuntimeError("agent needs an API key")

    monkeypatch.setattr(sessions, "P2PTransport", Recorded)
    registry = sessions.SessionRegistry(make_config(), fake_models(), broken_agent)
    try:
        with pytest.raises(RuntimeError, match="API key"):
            await registry.create(offer_sdp)

        assert len(registry) == 0
        assert made and made[0].closed.is_set()
    finally:
        for transport in made:
            await transport.close()


async def test_ending_a_session_whose_peer_never_connected_is_prompt(
    client: TestClient, offer_sdp: str
) -> None:
    registry = client.server.app[REGISTRY]
    session_id, _ = await registry.create(offer_sdp)  # the offerer is gone: it never connects
    live = registry.get(session_id)
    assert live is not None
    try:
        started = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(registry.end(session_id)), 1)
        assert time.monotonic() - started < 1
    finally:
        live.task.cancel()
        await asyncio.gather(live.task, return_exceptions=True)
