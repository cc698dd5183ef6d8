"""The audit REST API: auth, list filters, detail and export against what the store holds."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from tests.audit_api.conftest import AuditApp, bearer, token
from voxroom.audit.export import read_export
from voxroom.audit.records import SessionSummary
from voxroom.server.app import REGISTRY
from voxroom.server.audit_api import AUDIT_SCOPE, SESSION_READ_PREFIX
from voxroom.server.auth import SESSION_SCOPE

ROUTES = [
    "/api/v1/audit/sessions",
    "/api/v1/audit/sessions/sessionA1",
    "/api/v1/audit/sessions/sessionA1/export",
    "/api/v1/audit/sessions/sessionA1/files/stereo.wav",
]


# --- auth ------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ROUTES)
async def test_no_token_is_401(seeded: AuditApp, path: str) -> None:
    response = await seeded.client.get(path)

    assert response.status == 401
    assert await response.json() == {"error": "missing bearer token"}


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (lambda: "Bearer garbage", "invalid token"),
        (lambda: "Basic dXNlcjpwYXNz", "missing bearer token"),
        (lambda: f"Bearer {token([AUDIT_SCOPE], ttl_s=-10)}", "token expired"),
        (lambda: f"Bearer {token([AUDIT_SCOPE])[:-4]}AAAA", "invalid token"),
    ],
)
async def test_bad_token_is_401(
    seeded: AuditApp, path: str, header: Callable[[], str], reason: str
) -> None:
    response = await seeded.client.get(path, headers={"Authorization": header()})

    assert response.status == 401
    assert reason in (await response.json())["error"]


@pytest.mark.parametrize("path", ROUTES)
async def test_call_token_is_403(seeded: AuditApp, path: str) -> None:
    """A token for calls is authenticated but not allowed to read audits."""
    response = await seeded.client.get(path, headers=bearer([SESSION_SCOPE]))

    assert response.status == 403
    assert "lacks the 'audit' scope" in (await response.json())["error"]


@pytest.mark.parametrize("path", ROUTES)
async def test_audit_token_is_allowed(seeded: AuditApp, path: str) -> None:
    response = await seeded.client.get(path, headers=bearer())

    assert response.status == 200, await response.text()
    assert response.headers["Cache-Control"] in ("no-store", "private, no-cache")


async def test_audit_token_in_the_url_is_refused(seeded: AuditApp) -> None:
    """Full audit tokens never travel in URLs; only a session's read capability does."""
    audit = token([AUDIT_SCOPE])
    for path in ROUTES:
        response = await seeded.client.get(path, params={"access_token": audit})
        assert response.status in (401, 403), path


async def test_read_capability_opens_one_sessions_files_and_export_only(
    seeded: AuditApp,
) -> None:
    detail = await (await seeded.client.get(ROUTES[1], headers=bearer())).json()
    stereo = next(f["url"] for f in detail["files"] if f["name"] == "stereo.wav")
    capability = stereo.split("access_token=", 1)[1]

    assert (await seeded.client.get(stereo)).status == 200
    assert (await seeded.client.get(detail["export"]["jsonl"])).status == 200
    # Not the list, not the detail, not another session.
    other = "/api/v1/audit/sessions/sessionB2/export"
    assert (await seeded.client.get(other, params={"access_token": capability})).status == 403
    headers = {"Authorization": f"Bearer {capability}"}
    assert (await seeded.client.get(ROUTES[0], headers=headers)).status == 403
    assert (await seeded.client.get(ROUTES[1], headers=headers)).status == 403
    # A call token is no capability either.
    call = token([SESSION_SCOPE])
    assert (
        await seeded.client.get(stereo.split("?")[0], params={"access_token": call})
    ).status == 403


async def test_capability_never_outlives_the_audit_token(seeded: AuditApp) -> None:
    short = {"Authorization": f"Bearer {token([AUDIT_SCOPE], ttl_s=90)}"}
    detail = await (await seeded.client.get(ROUTES[1], headers=short)).json()
    capability = detail["export"]["json"].split("access_token=", 1)[1]

    payload = jwt.decode(capability, options={"verify_signature": False})
    assert payload["scopes"] == [SESSION_READ_PREFIX + "sessionA1"]
    assert payload["exp"] - payload["iat"] <= 90


# --- list ------------------------------------------------------------------------------------
async def _list(app: AuditApp, **params: Any) -> list[dict[str, Any]]:
    response = await app.client.get(ROUTES[0], params=params, headers=bearer())
    assert response.status == 200, await response.text()
    body = await response.json()
    return list(body["sessions"])


async def test_list_matches_the_store_newest_first(seeded: AuditApp) -> None:
    listed = await _list(seeded)
    stored = await seeded.service.store.list_sessions()

    assert [s["id"] for s in listed] == ["sessionB2", "sessionA1"]
    for item, summary in zip(listed, stored, strict=True):
        duration = item.pop("duration")
        assert SessionSummary(**item) == summary
        assert summary.ended_at is not None
        assert duration == pytest.approx(summary.ended_at - summary.started_at, abs=1e-3)
    assert listed[0]["turns"] == 3 and listed[0]["cost"] > 0


async def test_list_filters(seeded: AuditApp) -> None:
    a, b = sorted(await seeded.service.store.list_sessions(), key=lambda s: s.started_at)

    assert [s["id"] for s in await _list(seeded, agent="help desk")] == ["sessionB2"]
    assert await _list(seeded, agent="nobody") == []
    assert [s["id"] for s in await _list(seeded, since=b.started_at)] == ["sessionB2"]
    assert [s["id"] for s in await _list(seeded, until=b.started_at)] == ["sessionA1"]
    assert [s["id"] for s in await _list(seeded, limit=1)] == ["sessionB2"]
    assert len(await _list(seeded, since="2000-01-01", until="2999-12-31T00:00:00+00:00")) == 2
    assert await _list(seeded, until="2000-01-01T00:00:00") == []
    assert [s["id"] for s in await _list(seeded, since=a.started_at, agent="hotel concierge")] == [
        "sessionA1"
    ]


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": "501"}, {"limit": "ten"}, {"since": "yesterday"}, {"until": "nan"}],
)
async def test_list_bad_parameters_are_400(seeded: AuditApp, params: dict[str, str]) -> None:
    response = await seeded.client.get(ROUTES[0], params=params, headers=bearer())

    assert response.status == 400
    assert "error" in await response.json()


# --- detail ----------------------------------------------------------------------------------
async def test_detail_matches_the_store(seeded: AuditApp) -> None:
    response = await seeded.client.get(ROUTES[1], headers=bearer())
    body = await response.json()
    summary = await seeded.service.store.session("sessionA1")
    rows = await seeded.service.store.events("sessionA1")

    assert body["session"]["id"] == "sessionA1"
    assert summary is not None and body["session"]["head_hash"] == summary.head_hash
    assert body["events"] == [row.data() for row in rows]
    assert [e["seq"] for e in body["events"]] == list(range(1, len(rows) + 1))
    assert body["verification"]["ok"] is True
    assert body["verification"]["checked"] == len(rows)
    assert body["verification"]["head_hash"] == summary.head_hash
    types = {e["type"] for e in body["events"]}
    assert {"llm_request", "llm_response", "tool_call", "turn_metrics", "error"} <= types
    # Priced now from the usage events, the same as the write-time totals.
    assert body["currency"] == "USD"
    assert body["usage"]["total"]["cost"] == pytest.approx(summary.cost)
    assert set(body["usage"]["by_turn"]) == {"1", "2", "3"}
    assert body["recording"]["files"]["stereo"] == "stereo.wav"
    assert sorted(f["name"] for f in body["files"]) == ["agent.wav", "stereo.wav", "user.wav"]


async def test_detail_shows_a_tampered_chain(seeded: AuditApp) -> None:
    engine = create_async_engine(seeded.service.store.url)  # as someone tampering would
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql(
                "UPDATE events SET payload = REPLACE(payload, 'airport', 'harbour') "
                "WHERE session_id = 'sessionA1' AND type = 'user_transcript'"
            )
    finally:
        await engine.dispose()

    body = await (await seeded.client.get(ROUTES[1], headers=bearer())).json()

    assert body["verification"]["ok"] is False
    assert body["verification"]["first_bad_seq"] is not None
    assert "altered" in body["verification"]["reason"]


@pytest.mark.parametrize("session_id", ["nosuchsession", "bad.id", "a" * 129])
async def test_unknown_session_is_404(seeded: AuditApp, session_id: str) -> None:
    for suffix in ("", "/export", "/files/stereo.wav"):
        response = await seeded.client.get(ROUTES[1].replace("sessionA1", session_id) + suffix,
                                           headers=bearer())  # fmt: skip
        assert response.status == 404, suffix


# --- export ----------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["json", "jsonl"])
async def test_export_downloads_what_the_store_holds(
    seeded: AuditApp, fmt: str, tmp_path: Any
) -> None:
    response = await seeded.client.get(ROUTES[2], params={"format": fmt}, headers=bearer())

    assert response.status == 200
    expected_type = "application/json" if fmt == "json" else "application/x-ndjson"
    assert response.content_type == expected_type
    disposition = response.headers["Content-Disposition"]
    assert disposition == f'attachment; filename="voxroom-audit-sessionA1.{fmt}"'
    path = tmp_path / f"export.{fmt}"
    path.write_bytes(await response.read())
    summary, rows = read_export(path)
    assert summary == await seeded.service.store.session("sessionA1")
    assert rows == await seeded.service.store.events("sessionA1")
    if fmt == "jsonl":
        first = json.loads(path.read_text().splitlines()[0])
        assert first["record"] == "session" and "usage_by_turn" in first


async def test_export_default_is_json_and_bad_format_is_400(seeded: AuditApp) -> None:
    response = await seeded.client.get(ROUTES[2], headers=bearer())
    assert response.content_type == "application/json"
    assert (await response.json())["session"]["id"] == "sessionA1"

    bad = await seeded.client.get(ROUTES[2], params={"format": "xml"}, headers=bearer())
    assert bad.status == 400


# --- the viewer page and a disabled trail ----------------------------------------------------
async def test_viewer_page_is_served(audit_app: AuditApp) -> None:
    response = await audit_app.client.get("/audit/")
    assert response.status == 200
    html = await response.text()
    assert 'id="session-list"' in html and "/static/audit/viewer.js" in html
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    redirect = await audit_app.client.get("/audit", allow_redirects=False)
    assert redirect.status == 308 and redirect.headers["Location"] == "/audit/"
    modules = ("viewer", "api", "util", "model", "player", "session", "calls")
    for asset in (*(f"{m}.js" for m in modules), "viewer.css"):
        assert (await audit_app.client.get(f"/static/audit/{asset}")).status == 200


async def test_disabled_audit_trail_is_503(audit_app: AuditApp) -> None:
    registry = audit_app.app[REGISTRY]
    service, registry.audit = registry.audit, None
    try:
        response = await audit_app.client.get(ROUTES[0], headers=bearer())
    finally:
        registry.audit = service
    assert response.status == 503
    assert "disabled" in (await response.json())["error"]
