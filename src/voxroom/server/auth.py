"""Signed bearer tokens (JWT, HS256) with scopes and expiry."""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import jwt

SESSION_SCOPE = "session"
ALGORITHM = "HS256"


class AuthError(Exception):
    """Missing, malformed, expired or under-scoped token (answered with 401)."""


@dataclass(frozen=True, slots=True)
class Claims:
    identity: str
    scopes: frozenset[str]
    expires_at: int


def load_secret(explicit: str | None, cache_dir: Path) -> str:
    """The signing key: explicit config, else VOXROOM_SECRET, else a generated per-machine file
    (so `voxroom token` and `voxroom dev` on one machine agree without any set-up)."""
    if explicit:
        return explicit
    if env := os.environ.get("VOXROOM_SECRET"):
        return env
    path = cache_dir / "secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


class TokenAuthority:
    def __init__(self, secret: str) -> None:
        if len(secret.encode()) < 32:  # RFC 7518: an HS256 key needs at least 256 bits
            raise ValueError("token secret must be at least 32 bytes")
        self._secret = secret

    def issue(self, identity: str, scopes: list[str], ttl_s: int) -> tuple[str, int]:
        expires_at = int(time.time()) + ttl_s
        token = jwt.encode(
            {"sub": identity, "scopes": scopes, "exp": expires_at, "iat": int(time.time())},
            self._secret,
            algorithm=ALGORITHM,
        )
        return token, expires_at

    def verify(self, authorization: str | None, scope: str) -> Claims:
        if not authorization or not authorization.startswith("Bearer "):
            raise AuthError("missing bearer token")
        try:
            payload = jwt.decode(
                authorization[len("Bearer ") :].strip(),
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("token expired") from exc
        except jwt.InvalidTokenError as exc:
            raise AuthError("invalid token") from exc
        scopes = frozenset(str(s) for s in payload.get("scopes", []))
        if scope not in scopes:
            raise AuthError(f"token lacks the '{scope}' scope")
        return Claims(str(payload["sub"]), scopes, int(payload["exp"]))
