"""Serving a session's recordings: only plain files of its own folder, with Range for seeking.

Traversal attempts go over a raw socket, byte for byte as written here: an HTTP client
library would normalise or re-encode them before they reach the server."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.audit_api.conftest import AuditApp, bearer, token
from voxroom.server.audit_api import AUDIT_SCOPE, safe_file

SECRET_TEXT = b"TOPSECRET-do-not-serve"
FILES = "/api/v1/audit/sessions/sessionA1/files"


async def raw_get(app: AuditApp, target: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """GET `target` exactly as given; returns (status, whole response)."""
    server = app.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        lines = [f"GET {target} HTTP/1.1", f"Host: {server.host}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    status = int(response.split(b" ", 2)[1])
    return status, response


@pytest.fixture
async def planted(seeded: AuditApp) -> AuditApp:
    """Things that must never be served, in and around the session's folder."""
    files_dir = seeded.files_dir
    folder = files_dir / "sessionA1"
    (files_dir / "secret.wav").write_bytes(SECRET_TEXT)  # next to the session folders
    (files_dir.parent / "secret.wav").write_bytes(SECRET_TEXT)  # beside the database
    outside = files_dir.parent.parent / "outside"
    outside.mkdir()
    (outside / "secret.wav").write_bytes(SECRET_TEXT)
    (outside / "stereo.wav").write_bytes(SECRET_TEXT)
    (folder / ".hidden.wav").write_bytes(SECRET_TEXT)
    (folder / "subdir").mkdir()
    (folder / "subdir" / "inner.wav").write_bytes(SECRET_TEXT)
    os.symlink(outside / "secret.wav", folder / "link-out.wav")
    os.symlink(folder / "user.wav", folder / "link-in.wav")  # even pointing inside
    os.symlink("/etc/passwd", folder / "passwd.wav")
    # A whole session folder that is a symlink to somewhere else.
    (files_dir / "sessionB2").symlink_to(outside, target_is_directory=True)
    return seeded


TRAVERSALS = [
    f"{FILES}/../../../secret.wav",
    f"{FILES}/../../secret.wav",
    f"{FILES}/../secret.wav",
    f"{FILES}/..%2F..%2Fsecret.wav",
    f"{FILES}/..%2f..%2f..%2fsecret.wav",
    f"{FILES}/%2e%2e%2fsecret.wav",
    f"{FILES}/%2e%2e/%2e%2e/secret.wav",
    f"{FILES}/%2E%2E%2F%2E%2E%2F..%2Fsecret.wav",
    f"{FILES}/%252e%252e%252fsecret.wav",
    f"{FILES}/..",
    f"{FILES}/%2e%2e",
    f"{FILES}/.",
    f"{FILES}/..%5C..%5Csecret.wav",
    f"{FILES}/..\\..\\secret.wav",
    f"{FILES}/%2Fetc%2Fpasswd",
    f"{FILES}//etc/passwd",
    f"{FILES}/%2F..%2Fsecret.wav",
    f"{FILES}/stereo.wav%00.txt",
    f"{FILES}/.hidden.wav",
    f"{FILES}/subdir",
    f"{FILES}/subdir%2Finner.wav",
    f"{FILES}/subdir/inner.wav",
    f"{FILES}/link-out.wav",
    f"{FILES}/link-in.wav",
    f"{FILES}/passwd.wav",
    "/api/v1/audit/sessions/..%2Fsessions%2FsessionA1/files/stereo.wav",
    "/api/v1/audit/sessions/%2e%2e/files/secret.wav",
    "/api/v1/audit/sessions/sessionB2/files/secret.wav",
    "/api/v1/audit/sessions/sessionB2/files/stereo.wav",
    "/api/v1/audit/sessions/sessionA1%2F..%2FsessionB2/files/stereo.wav",
]


@pytest.mark.parametrize("target", TRAVERSALS)
async def test_traversal_is_refused(planted: AuditApp, target: str) -> None:
    status, response = await raw_get(planted, target, bearer())

    assert SECRET_TEXT not in response
    assert b"root:" not in response
    assert status in (400, 404), response[:300]


async def test_plain_names_are_served(planted: AuditApp) -> None:
    for name in ("stereo.wav", "user.wav", "agent.wav"):
        status, response = await raw_get(planted, f"{FILES}/{name}", bearer())
        assert status == 200
        body = response.split(b"\r\n\r\n", 1)[1]
        assert body == (planted.files_dir / "sessionA1" / name).read_bytes()


def test_safe_file_directly(tmp_path: Path) -> None:
    root = tmp_path / "files"
    (root / "s1").mkdir(parents=True)
    (root / "s1" / "a.wav").write_bytes(b"x")
    (root / "outside.wav").write_bytes(b"x")

    assert safe_file(root, "s1", "a.wav") == root / "s1" / "a.wav"
    for session_id, name in [
        ("s1", "../outside.wav"), ("s1", ".."), ("s1", "."), ("s1", ""), ("s1", "/etc/passwd"),
        ("s1", "a.wav/"), ("s1", "a.wav\x00"), ("..", "outside.wav"), ("", "outside.wav"),
        ("s1/..", "outside.wav"), ("s1", "missing.wav"), ("s2", "a.wav"),
    ]:  # fmt: skip
        assert safe_file(root, session_id, name) is None, (session_id, name)
    # The files root itself may be reached through a symlink (a mounted volume): that is fine.
    (tmp_path / "mounted").symlink_to(root, target_is_directory=True)
    assert safe_file(tmp_path / "mounted", "s1", "a.wav") is not None


# --- Range -----------------------------------------------------------------------------------
async def test_range_requests_seek(seeded: AuditApp) -> None:
    data = (seeded.files_dir / "sessionA1" / "stereo.wav").read_bytes()
    url = f"{FILES}/stereo.wav"

    whole = await seeded.client.get(url, headers=bearer())
    assert whole.status == 200
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert whole.content_type in ("audio/x-wav", "audio/wav", "audio/vnd.wave")
    assert await whole.read() == data

    for header, start, end in [
        ("bytes=0-99", 0, 99),
        ("bytes=44-", 44, len(data) - 1),
        ("bytes=200000-200999", 200000, 200999),
        ("bytes=-1000", len(data) - 1000, len(data) - 1),
    ]:
        part = await seeded.client.get(url, headers={**bearer(), "Range": header})
        assert part.status == 206, header
        assert part.headers["Content-Range"] == f"bytes {start}-{end}/{len(data)}"
        assert await part.read() == data[start : end + 1]

    beyond = await seeded.client.get(url, headers={**bearer(), "Range": f"bytes={len(data)}-"})
    assert beyond.status == 416


async def test_range_with_the_read_capability(seeded: AuditApp) -> None:
    """What the viewer's <audio> element does: the signed URL, then ranges on it."""
    detail = await (
        await seeded.client.get("/api/v1/audit/sessions/sessionA1", headers=bearer())
    ).json()
    url = next(f["url"] for f in detail["files"] if f["name"] == "stereo.wav")

    part = await seeded.client.get(url, headers={"Range": "bytes=100-199"})

    assert part.status == 206
    assert len(await part.read()) == 100
    expired = url.split("access_token=")[0] + "access_token=" + token([AUDIT_SCOPE], ttl_s=-5)
    assert (await seeded.client.get(expired)).status in (401, 403)
