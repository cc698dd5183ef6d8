"""server/auth.py: signed bearer tokens and the signing secret."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import jwt
import pytest

from voxroom.server.auth import SESSION_SCOPE, AuthError, TokenAuthority, load_secret

SECRET = "unit-test-secret-0123456789abcdef"


@pytest.fixture
def authority() -> TokenAuthority:
    return TokenAuthority(SECRET)


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_issue_and_verify_round_trip(authority: TokenAuthority) -> None:
    before = int(time.time())
    token, expires_at = authority.issue("alice", [SESSION_SCOPE, "admin"], ttl_s=600)

    claims = authority.verify(bearer(token), SESSION_SCOPE)

    assert claims.identity == "alice"
    assert claims.scopes == frozenset({SESSION_SCOPE, "admin"})
    assert claims.expires_at == expires_at
    assert before + 600 <= expires_at <= int(time.time()) + 600


def test_expired_token_is_rejected(authority: TokenAuthority) -> None:
    token, _ = authority.issue("alice", [SESSION_SCOPE], ttl_s=-5)

    with pytest.raises(AuthError, match="expired"):
        authority.verify(bearer(token), SESSION_SCOPE)


def test_token_signed_with_another_secret_is_rejected(authority: TokenAuthority) -> None:
    token, _ = TokenAuthority("another-secret-abcdefghijklmnopqrstuv").issue(
        "mallory", [SESSION_SCOPE], 60
    )

    with pytest.raises(AuthError, match="invalid token"):
        authority.verify(bearer(token), SESSION_SCOPE)


def test_token_without_the_scope_is_rejected(authority: TokenAuthority) -> None:
    token, _ = authority.issue("alice", ["admin"], ttl_s=60)

    with pytest.raises(AuthError, match="lacks the 'session' scope"):
        authority.verify(bearer(token), SESSION_SCOPE)


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Token abc"],
)
def test_missing_or_non_bearer_header_is_rejected(
    authority: TokenAuthority, header: str | None
) -> None:
    with pytest.raises(AuthError, match="missing bearer token"):
        authority.verify(header, SESSION_SCOPE)


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "Bearer xyz"])
def test_malformed_token_is_rejected(authority: TokenAuthority, token: str) -> None:
    with pytest.raises(AuthError, match="invalid token"):
        authority.verify(bearer(token), SESSION_SCOPE)


def test_token_without_expiry_or_subject_is_rejected(authority: TokenAuthority) -> None:
    no_exp = jwt.encode({"sub": "a", "scopes": [SESSION_SCOPE]}, SECRET, algorithm="HS256")
    no_sub = jwt.encode(
        {"exp": int(time.time()) + 60, "scopes": [SESSION_SCOPE]}, SECRET, algorithm="HS256"
    )

    for token in (no_exp, no_sub):
        with pytest.raises(AuthError, match="invalid token"):
            authority.verify(bearer(token), SESSION_SCOPE)


def test_unsigned_token_is_rejected(authority: TokenAuthority) -> None:
    claims = {"sub": "a", "exp": int(time.time()) + 60, "scopes": [SESSION_SCOPE]}
    unsigned = jwt.encode(claims, None, algorithm="none")

    with pytest.raises(AuthError, match="invalid token"):
        authority.verify(bearer(unsigned), SESSION_SCOPE)


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        TokenAuthority("x" * 31)
    TokenAuthority("x" * 32)


# --- load_secret -------------------------------------------------------------------------
@pytest.fixture
def no_env_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOXROOM_SECRET", raising=False)


def test_explicit_secret_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOXROOM_SECRET", "from-the-environment-123456")

    assert load_secret("explicit-secret-1234567890", tmp_path) == "explicit-secret-1234567890"
    assert not (tmp_path / "secret").exists()


def test_environment_secret_wins_over_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOXROOM_SECRET", "from-the-environment-123456")

    assert load_secret(None, tmp_path) == "from-the-environment-123456"
    assert not (tmp_path / "secret").exists()


@pytest.mark.usefixtures("no_env_secret")
def test_generated_secret_file_is_private_and_reused(tmp_path: Path) -> None:
    cache = tmp_path / "nested" / "cache"

    first = load_secret(None, cache)
    path = cache / "secret"
    inode, mtime = path.stat().st_ino, path.stat().st_mtime_ns
    second = load_secret(None, cache)

    assert first == second
    assert len(first) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (inode, mtime)
    TokenAuthority(first)  # long enough to sign with


@pytest.mark.usefixtures("no_env_secret")
def test_generated_secret_is_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        load_secret(None, tmp_path)
    finally:
        os.umask(old)

    assert stat.S_IMODE((tmp_path / "secret").stat().st_mode) == 0o600


@pytest.mark.usefixtures("no_env_secret")
def test_existing_secret_file_is_read_not_replaced(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("  an-existing-secret-value-xyz \n")

    assert load_secret(None, tmp_path) == "an-existing-secret-value-xyz"


@pytest.mark.usefixtures("no_env_secret")
def test_two_machines_dirs_get_different_secrets(tmp_path: Path) -> None:
    assert load_secret(None, tmp_path / "a") != load_secret(None, tmp_path / "b")
