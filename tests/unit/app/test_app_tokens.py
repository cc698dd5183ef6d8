"""server/app.py: `POST /api/v1/tokens`, the development token endpoint (loopback and dev mode
only)."""

from __future__ import annotations

import time
from typing import Any
from unittest import mock

import pytest
from aiohttp.test_utils import TestClient, make_mocked_request

from voxroom.server.app import create_app, create_token
from voxroom.server.auth import SESSION_SCOPE, TokenAuthority

from ..fakes import FakeAgent, fake_models
from .rig import SECRET, MakeClient, error_of, make_config

pytestmark = pytest.mark.usefixtures("undo_process_tuning")


# --- tokens ------------------------------------------------------------------------------
async def test_token_endpoint_issues_a_session_token_on_loopback_in_dev_mode(
    client: TestClient,
) -> None:
    response = await client.post("/api/v1/tokens", json={"identity": "alice"})

    assert response.status == 200
    body = await response.json()
    assert set(body) == {"token", "expires_at"}
    claims = TokenAuthority(SECRET).verify(f"Bearer {body['token']}", SESSION_SCOPE)
    assert claims.identity == "alice"
    assert claims.expires_at == body["expires_at"]
    assert abs(body["expires_at"] - (time.time() + 3600)) < 5


async def test_token_endpoint_defaults_and_truncates_the_identity(client: TestClient) -> None:
    plain = await (await client.post("/api/v1/tokens")).json()
    long = await (await client.post("/api/v1/tokens", json={"identity": "x" * 100})).json()

    verify = TokenAuthority(SECRET).verify
    assert verify(f"Bearer {plain['token']}", SESSION_SCOPE).identity == "playground"
    assert verify(f"Bearer {long['token']}", SESSION_SCOPE).identity == "x" * 64


async def test_token_endpoint_rejects_a_non_json_body(client: TestClient) -> None:
    response = await client.post(
        "/api/v1/tokens", data=b"identity=alice", headers={"Content-Type": "text/plain"}
    )

    assert response.status == 400
    assert await error_of(response) == "body must be JSON"


async def test_token_endpoint_is_403_outside_dev_mode(make_client: MakeClient) -> None:
    production = await make_client(make_config(dev_mode=False))

    response = await production.post("/api/v1/tokens", json={})

    assert response.status == 403
    assert "dev mode" in await error_of(response)


def mocked_token_request(peer: tuple[Any, ...], headers: dict[str, str] | None = None):
    app = create_app(make_config(), fake_models(), FakeAgent, TokenAuthority(SECRET))
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        peer if name == "peername" else default
    )
    return make_mocked_request(
        "POST", "/api/v1/tokens", headers=headers, app=app, transport=transport
    )


@pytest.mark.parametrize("peer", [("10.0.0.5", 40000), ("192.168.1.20", 40000)])
async def test_token_endpoint_is_403_for_remote_clients(peer: tuple[Any, ...]) -> None:
    request = mocked_token_request(peer, headers={"X-Forwarded-For": "127.0.0.1"})

    response = await create_token(request)

    assert response.status == 403


async def test_token_endpoint_accepts_ipv6_loopback() -> None:
    response = await create_token(mocked_token_request(("::1", 40000, 0, 0)))

    assert response.status == 200


async def test_token_endpoint_accepts_ipv4_mapped_loopback() -> None:
    response = await create_token(mocked_token_request(("::ffff:127.0.0.1", 40000, 0, 0)))

    assert response.status == 200
