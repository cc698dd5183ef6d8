"""The audit API, metrics and tokens as `create_app` and the CLI wire them (not build_app):
the dev token endpoint grants the audit scope, and a real session (fake models, real WebRTC)
ends up in the API and in /metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from tests.audit_api.conftest import SECRET, bearer, make_config
from tests.unit.fakes import FakeAgent, FakeLLM, FakeTTS, fake_models
from voxroom.cli import app as cli_app
from voxroom.client import VoxroomClient
from voxroom.providers.base import LLMRequest
from voxroom.server.app import create_app
from voxroom.server.audit_api import AUDIT_SCOPE
from voxroom.server.auth import SESSION_SCOPE, AuthError, TokenAuthority

REPLY = "Paris is the capital of France."
GREETING = "Welcome."
PROMPT_TOKENS, COMPLETION_TOKENS = 321, 7
Wired = TestClient[web.Request, web.Application]


class MeteredLLM(FakeLLM):
    """Reports token counts, as real providers do (FakeLLM reports none)."""

    async def stream(self, request: LLMRequest) -> AsyncIterator[str]:
        async for token in super().stream(request):
            yield token
        request.usage.prompt_tokens = PROMPT_TOKENS
        request.usage.completion_tokens = COMPLETION_TOKENS


class GreetingAgent(FakeAgent):
    greeting = GREETING  # a turn of the agent's own: its speech is the agent's usage


@pytest.fixture
async def wired(tmp_path: Path) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    models = fake_models(llm=MeteredLLM(default=REPLY), tts=FakeTTS(chunks=2, chunk_s=0.1))
    config = make_config(tmp_path / "cache")
    app = create_app(config, models, GreetingAgent, TokenAuthority(SECRET))
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


def scopes_of(token: str) -> set[str]:
    authority = TokenAuthority(SECRET)
    found = set()
    for scope in (SESSION_SCOPE, AUDIT_SCOPE):
        try:
            authority.verify(f"Bearer {token}", scope)
            found.add(scope)
        except AuthError:
            pass
    return found


async def test_create_app_serves_the_audit_api_viewer_and_metrics(wired: Wired) -> None:
    assert (await wired.get("/api/v1/audit/sessions", headers=bearer())).status == 200
    assert (await wired.get("/api/v1/audit/sessions")).status == 401
    assert (await wired.get("/audit/")).status == 200
    metrics = await wired.get("/metrics")
    assert metrics.status == 200
    assert "voxroom_sessions_active" in await metrics.text()


async def test_token_endpoint_grants_the_audit_scope(wired: Wired) -> None:
    async def issue(body: object) -> tuple[int, dict[str, object]]:
        response = await wired.post("/api/v1/tokens", json=body)
        return response.status, await response.json()

    status, body = await issue({"scopes": ["audit"]})
    assert status == 200 and scopes_of(str(body["token"])) == {AUDIT_SCOPE}
    status, body = await issue({"scopes": ["session", "audit"]})
    assert status == 200 and scopes_of(str(body["token"])) == {SESSION_SCOPE, AUDIT_SCOPE}
    status, body = await issue({"identity": "alice"})  # default: a token for calls
    assert status == 200 and scopes_of(str(body["token"])) == {SESSION_SCOPE}
    bad: object
    for bad in ({"scopes": ["admin"]}, {"scopes": []}, {"scopes": "audit"}, {"scopes": [1]}):
        status, body = await issue(bad)
        assert status == 400, bad
        assert "scopes" in str(body["error"])


async def test_a_real_session_is_audited_and_counted(wired: Wired) -> None:
    peer = VoxroomClient(str(wired.make_url("")).rstrip("/"))
    call_token, _ = TokenAuthority(SECRET).issue("alice", [SESSION_SCOPE], 600)
    try:
        await asyncio.wait_for(peer.connect(call_token), 15)
        assert peer.session_url is not None
        session_id = peer.session_url.rsplit("/", 1)[1]
        # The greeting is said before the data channel opens (no caption reaches us): wait
        # for the store to have it ended, so the question does not barge in on it.
        await greeted(wired, session_id)
        peer.send({"type": "chat", "text": "What is the capital of France?"})
        await peer.wait_for(
            lambda m: (
                m["type"] == "transcript"
                and m["role"] == "agent"
                and m["final"]
                and m["turn_id"] == 2
            ),
            10,
        )
        live = await (await wired.get("/metrics")).text()
        assert 'voxroom_sessions_active{agent="fake agent"} 1.0' in live
    finally:
        await peer.close()

    deadline = time.monotonic() + 15
    while True:
        response = await wired.get(f"/api/v1/audit/sessions/{session_id}", headers=bearer())
        detail = await response.json() if response.status == 200 else {}
        if detail and detail["session"]["ended_at"] is not None and detail["recording"]:
            break
        assert time.monotonic() < deadline, f"the session never ended in the store: {detail}"
        await asyncio.sleep(0.1)
    types = [e["type"] for e in detail["events"]]
    assert types[0] == "session_started" and types[-1] == "session_ended"
    assert {"user_transcript", "llm_request", "llm_response", "turn_metrics"} <= set(types)
    assert detail["verification"]["ok"] is True
    assert {f["name"] for f in detail["files"]} == {"user.wav", "agent.wav", "stereo.wav"}
    stereo = next(f["url"] for f in detail["files"] if f["name"] == "stereo.wav")
    assert (await wired.get(stereo, headers={"Range": "bytes=0-43"})).status == 206

    # Usage per participant: the question's tokens and speech are alice's (the token that
    # opened the session), the greeting's speech the agent's; together, the session's totals.
    user, agent = detail["usage"]["by_participant"]
    assert (user["role"], user["identity"]) == ("user", "alice")
    assert (agent["role"], agent["identity"]) == ("agent", "fake agent")
    assert (user["prompt_tokens"], user["completion_tokens"]) == (PROMPT_TOKENS, COMPLETION_TOKENS)
    assert user["tts_characters"] == len(REPLY)
    assert agent["tts_characters"] == len(GREETING)
    assert agent["prompt_tokens"] == agent["completion_tokens"] == 0
    for name in ("prompt_tokens", "completion_tokens", "stt_seconds", "tts_characters", "cost"):
        assert user[name] + agent[name] == pytest.approx(detail["usage"]["total"][name]), name
        assert user[name] + agent[name] == pytest.approx(detail["session"][name]), name
    exported = await wired.get(detail["export"]["json"])
    assert (await exported.json())["usage_by_participant"] == detail["usage"]["by_participant"]

    text = await (await wired.get("/metrics")).text()
    found = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    agent = (("agent", "fake agent"),)
    assert found[("voxroom_sessions_started_total", agent)] == 1
    assert found[("voxroom_sessions_active", agent)] == 0
    # Two replies, each timed: the greeting and the answer.
    assert found[("voxroom_turn_latency_seconds_count", (("stage", "total"),))] == 2
    assert found[("voxroom_agent_replies_total", ())] == 2
    assert found[("voxroom_user_turns_total", (("source", "chat"),))] == 1


async def greeted(wired: Wired, session_id: str) -> None:
    deadline = time.monotonic() + 10
    while True:
        response = await wired.get(f"/api/v1/audit/sessions/{session_id}", headers=bearer())
        events = (await response.json())["events"] if response.status == 200 else []
        if any(e["type"] == "agent_speech" and e["final"] for e in events):
            return
        assert time.monotonic() < deadline, f"the greeting never ended: {events}"
        await asyncio.sleep(0.1)


def test_cli_token_scope(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOXROOM_SECRET", SECRET)
    runner = CliRunner()

    audit = runner.invoke(cli_app, ["token", "--scope", "audit"])
    both = runner.invoke(cli_app, ["token", "--scope", "audit", "--scope", "session"])
    plain = runner.invoke(cli_app, ["token"])
    bad = runner.invoke(cli_app, ["token", "--scope", "admin"])

    assert audit.exit_code == 0, audit.output
    assert scopes_of(audit.stdout.strip()) == {AUDIT_SCOPE}
    assert scopes_of(both.stdout.strip()) == {SESSION_SCOPE, AUDIT_SCOPE}
    assert scopes_of(plain.stdout.strip()) == {SESSION_SCOPE}
    assert bad.exit_code == 2 and "unknown scope" in bad.output
