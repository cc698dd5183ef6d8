"""What the HTTP-surface tests share: the app's configuration, tokens and error bodies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

from voxroom.config import ServerConfig, TransportConfig, VoxroomConfig
from voxroom.server.auth import SESSION_SCOPE, TokenAuthority

SECRET = "app-test-secret-0123456789abcdefghij"
REPLY = "Hello from the fake agent. Nice to meet you."


def make_config(**server: Any) -> VoxroomConfig:
    config = VoxroomConfig(
        server=ServerConfig(**server),
        transport=TransportConfig(ice_addresses=["127.0.0.1"]),  # keep create_app on loopback
    )
    config.audit.enabled = False  # the audit store has its own tests
    return config


MakeClient = Callable[..., Any]


def token(scopes: list[str] | None = None, ttl_s: int = 600, secret: str = SECRET) -> str:
    return TokenAuthority(secret).issue("tester", scopes or [SESSION_SCOPE], ttl_s)[0]


def auth(value: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {value or token()}"}


def sdp_headers(value: str | None = None) -> dict[str, str]:
    return {**auth(value), "Content-Type": "application/sdp"}


async def error_of(response: aiohttp.ClientResponse) -> str:
    assert response.content_type == "application/json"
    body = await response.json()
    assert set(body) == {"error"}
    return str(body["error"])
