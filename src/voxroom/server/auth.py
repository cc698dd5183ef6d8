"""Signed bearer tokens (JWT, HS256) with scopes and expiry."""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import jwt

SESSION_SCOPE = "session"
ROOM_SCOPE = "room"  # join one room (the `room` claim) as a participant
ROOMS_SCOPE = "rooms"  # create, list and end rooms, and issue their join tokens
ALGORITHM = "HS256"
# Claims a room join token carries besides the identity (`sub`): which room, and how the
# person appears in it (display name, role in the call, spoken language).
ROOM_CLAIMS = ("room", "name", "role", "lang")


class AuthError(Exception):
    """Missing, malformed, expired or under-scoped token (answered with 401)."""


@dataclass(frozen=True, slots=True)
class Claims:
    identity: str
    scopes: frozenset[str]
    expires_at: int
    room: str | None = None  # join tokens: the room they admit to
    name: str | None = None
    role: str | None = None
    language: str | None = None


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

    def issue(
        self, identity: str, scopes: list[str], ttl_s: int, **claims: str | None
    ) -> tuple[str, int]:
        """A signed token; `claims`: any of ROOM_CLAIMS (None values are left out)."""
        if unknown := set(claims) - set(ROOM_CLAIMS):
            raise ValueError(f"unknown claims: {', '.join(sorted(unknown))}")
        expires_at = int(time.time()) + ttl_s
        payload: dict[str, object] = {
            "sub": identity,
            "scopes": scopes,
            "exp": expires_at,
            "iat": int(time.time()),
            **{key: value for key, value in claims.items() if value is not None},
        }
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM), expires_at

    def verify(self, authorization: str | None, scope: str) -> Claims:
        if not authorization or not authorization.startswith("Bearer "):
            raise AuthError("missing bearer token")
        return self.verify_token(authorization[len("Bearer ") :].strip(), scope)

    def verify_token(self, token: str, scope: str) -> Claims:
        """The claims of a bare token (no "Bearer "), e.g. one carried inside a message."""
        try:
            payload = jwt.decode(
                token,
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

        def text(key: str) -> str | None:
            value = payload.get(key)
            return str(value) if value is not None else None

        return Claims(
            str(payload["sub"]),
            scopes,
            int(payload["exp"]),
            room=text("room"),
            name=text("name"),
            role=text("role"),
            language=text("lang"),
        )
