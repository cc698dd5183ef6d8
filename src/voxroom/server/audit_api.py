"""The audit REST API and the viewer page (docs/protocol.md, "Audit API").

Every route needs a bearer token with the `audit` scope: a token for calls (`session` scope)
is valid but not allowed here (403). Plain-URL reads that cannot send a header — the viewer's
`<audio>` element and its download links — use a capability: the session detail hands out
URLs with `?access_token=`, a short-lived token whose only scope is `audit-session:<id>`,
good for that one session's files and export and nothing else.

Reading is off the event loop where it costs: the store is async, and parsing, hashing
(chain verification), pricing and JSON encoding of a whole session run on a thread.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import os
import re
import stat
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from voxroom.audit.config import AuditConfig
from voxroom.audit.cost import PriceTable
from voxroom.audit.export import ExportFormat, typed_events, verify_rows, write_export
from voxroom.audit.records import SessionSummary, StoredEvent
from voxroom.server.audit_service import AuditService
from voxroom.server.auth import AuthError, Claims, TokenAuthority

AUDIT_SCOPE = "audit"
SESSION_READ_PREFIX = "audit-session:"  # + session id: that session's files and export only
FILE_URL_TTL_S = 3600
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
API = "/api/v1/audit"
VIEWER_DIR = Path(__file__).resolve().parent.parent / "web" / "audit"

_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
# A plain file name: no separators, no leading dot (so neither "." nor ".." nor hidden files).
_FILE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
_CONTENT_TYPES: dict[ExportFormat, str] = {
    "json": "application/json",
    "jsonl": "application/x-ndjson",
}
_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
# The viewer shows text from callers and models: nothing but its own files may run or load.
_VIEWER_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}

ServiceGetter = Callable[[], AuditService | None]


@dataclass(frozen=True)
class _Api:
    service: ServiceGetter
    authority: TokenAuthority
    prices: PriceTable


AUDIT_API = web.AppKey("audit_api", _Api)


def add_audit_routes(
    app: web.Application,
    service: ServiceGetter,
    authority: TokenAuthority,
    config: AuditConfig | None = None,
) -> None:
    """Register the audit API under /api/v1/audit and the viewer at /audit/.

    `service` returns the running AuditService (None while the audit trail is off or not
    started yet): the service only exists once the app has started. The viewer's scripts
    and styles are served by the app's /static/ route (web/audit/…)."""
    prices = PriceTable.load(config.prices if config is not None else None)
    app[AUDIT_API] = _Api(service, authority, prices)
    app.router.add_get(f"{API}/sessions", list_sessions)
    app.router.add_get(f"{API}/sessions/{{session_id}}", session_detail)
    app.router.add_get(f"{API}/sessions/{{session_id}}/export", export_session)
    app.router.add_get(f"{API}/sessions/{{session_id}}/files/{{name}}", session_file)
    app.router.add_get("/audit", _to_viewer)
    app.router.add_get("/audit/", viewer_page)


# --- auth ------------------------------------------------------------------------------------
class _Denied(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _verify(request: web.Request, authorization: str | None, scope: str) -> Claims:
    """Claims of a token that has `scope`. 401: no valid token; 403: valid, lacks the scope."""
    try:
        return request.app[AUDIT_API].authority.verify(authorization, scope)
    except AuthError as exc:
        # TokenAuthority says "token lacks the '<scope>' scope" for a valid token without it.
        status = 403 if str(exc).startswith("token lacks") else 401
        raise _Denied(status, str(exc)) from exc


def _authorize(request: web.Request) -> Claims:
    """An audit token, in the Authorization header (never in a URL)."""
    return _verify(request, request.headers.get("Authorization"), AUDIT_SCOPE)


def _authorize_read(request: web.Request, session_id: str) -> None:
    """The session's read capability in `?access_token=`, else an audit token in the header."""
    if "access_token" in request.query:
        capability = f"Bearer {request.query['access_token']}"
        _verify(request, capability, SESSION_READ_PREFIX + session_id)
    else:
        _authorize(request)


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status, headers=_NO_STORE)


def _service(request: web.Request) -> AuditService:
    service = request.app[AUDIT_API].service()
    if service is None:
        raise _Denied(503, "the audit trail is disabled on this server")
    return service


def _session_id(request: web.Request) -> str:
    session_id = request.match_info["session_id"]
    if not _SESSION_ID.fullmatch(session_id):
        raise _Denied(404, "no such session")
    return session_id


def _handler(
    work: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Answer a refusal raised anywhere in `work` with its JSON error."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            return await work(request)
        except _Denied as denied:
            return _error(denied.status, denied.reason)

    handle.__name__ = work.__name__
    handle.__doc__ = work.__doc__
    return handle


# --- routes ----------------------------------------------------------------------------------
@_handler
async def list_sessions(request: web.Request) -> web.Response:
    """Sessions newest first: ?agent=&since=&until=&limit= (times: unix seconds or ISO 8601)."""
    _authorize(request)
    query = request.query
    agent = query.get("agent") or None
    since, until = _time(query.get("since"), "since"), _time(query.get("until"), "until")
    limit = _limit(query.get("limit"))
    found = await _service(request).store.list_sessions(agent, since, until, limit)
    body = {
        "sessions": [_summary(s) for s in found],
        "limit": limit,
        "currency": request.app[AUDIT_API].prices.currency,
    }
    return web.json_response(body, headers=_NO_STORE)


@_handler
async def session_detail(request: web.Request) -> web.Response:
    """Summary, usage and cost, chain verification, recording URLs and every event in order."""
    claims = _authorize(request)
    session_id = _session_id(request)
    service = _service(request)
    summary, rows = await _load(service, session_id)
    api = request.app[AUDIT_API]
    ttl = max(1, min(FILE_URL_TTL_S, claims.expires_at - int(time.time())))  # never longer
    capability, _ = api.authority.issue(claims.identity, [SESSION_READ_PREFIX + session_id], ttl)
    files = await asyncio.to_thread(_list_files, service.files_dir, session_id)
    body = await asyncio.to_thread(_detail_body, summary, rows, api.prices, files, capability)
    return web.Response(body=body, content_type="application/json", headers=_NO_STORE)


@_handler
async def export_session(request: web.Request) -> web.Response:
    """The session as a JSON or JSONL download (the same format as `voxroom audit export`)."""
    session_id = _session_id(request)
    _authorize_read(request, session_id)
    fmt = request.query.get("format", "json")
    if fmt not in _CONTENT_TYPES:
        raise _Denied(400, "format must be json or jsonl")
    export_format: ExportFormat = "jsonl" if fmt == "jsonl" else "json"
    summary, rows = await _load(_service(request), session_id)
    prices = request.app[AUDIT_API].prices
    text = await asyncio.to_thread(_export_text, summary, rows, export_format, prices)
    filename = f"voxroom-audit-{session_id}.{export_format}"
    return web.Response(
        body=text.encode("utf-8"),
        content_type=_CONTENT_TYPES[export_format],
        charset="utf-8",
        headers={**_NO_STORE, "Content-Disposition": f'attachment; filename="{filename}"'},
    )


@_handler
async def session_file(request: web.Request) -> web.StreamResponse:
    """One of the session's files (recordings), with Range support for seeking."""
    session_id = _session_id(request)
    _authorize_read(request, session_id)
    service = _service(request)
    name = request.match_info["name"]
    path = await asyncio.to_thread(safe_file, service.files_dir, session_id, name)
    if path is None:
        raise _Denied(404, "no such file")
    return web.FileResponse(
        path,
        headers={
            "Cache-Control": "private, no-cache",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f'inline; filename="{path.name}"',
        },
    )


async def viewer_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(VIEWER_DIR / "index.html", headers=_VIEWER_HEADERS)


async def _to_viewer(request: web.Request) -> web.Response:
    raise web.HTTPPermanentRedirect("/audit/")


# --- files -----------------------------------------------------------------------------------
def safe_file(files_dir: Path, session_id: str, name: str) -> Path | None:
    """`files_dir/session_id/name` if it is a regular file of that folder; else None.

    Refused: ids and names that are not plain (separators, dot segments, hidden files,
    anything percent-decoding could smuggle in), symlinks (the file's or the folder's, even
    pointing inside), and anything that is not a regular file."""
    if not _SESSION_ID.fullmatch(session_id) or not _FILE_NAME.fullmatch(name):
        return None
    folder = files_dir / session_id
    path = folder / name
    try:
        if not stat.S_ISDIR(folder.lstat().st_mode):  # a symlinked folder is refused too
            return None
        if not stat.S_ISREG(path.lstat().st_mode):
            return None
        root = files_dir.resolve(strict=True)
        if path.resolve(strict=True) != root / session_id / name:
            return None
    except OSError:
        return None
    return path


def _list_files(files_dir: Path, session_id: str) -> list[tuple[str, int]]:
    folder = files_dir / session_id
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    found: list[tuple[str, int]] = []
    for name in names:
        path = safe_file(files_dir, session_id, name)
        if path is not None:
            found.append((name, path.stat().st_size))
    return found


# --- bodies (on a thread) --------------------------------------------------------------------
def _detail_body(
    summary: SessionSummary,
    rows: list[StoredEvent],
    prices: PriceTable,
    files: list[tuple[str, int]],
    capability: str,
) -> bytes:
    base = f"{API}/sessions/{summary.id}"
    result = verify_rows(summary, rows)
    usage = prices.summarize(typed_events(rows))
    signed = f"access_token={capability}"
    events = [row.data() for row in rows]
    listed = [
        {"name": name, "bytes": size, "url": f"{base}/files/{name}?{signed}"}
        for name, size in files
    ]
    recording = next((e for e in reversed(events) if e.get("type") == "recording_saved"), None)
    body = {
        "session": _summary(summary),
        "currency": prices.currency,
        "usage": {
            "total": usage.total.as_dict(),
            "by_turn": {str(k): v.as_dict() for k, v in sorted(usage.turns.items())},
            "by_participant": usage.by_participant(),
        },
        "verification": {
            "ok": result.ok,
            "checked": result.checked,
            "head_hash": result.head_hash,
            "first_bad_seq": result.first_bad_seq,
            "reason": result.reason,
            "message": result.message(),
        },
        "recording": recording,
        "files": listed,
        "export": {fmt: f"{base}/export?format={fmt}&{signed}" for fmt in _CONTENT_TYPES},
        "events": events,
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _export_text(
    summary: SessionSummary, rows: list[StoredEvent], fmt: ExportFormat, prices: PriceTable
) -> str:
    out = io.StringIO()
    write_export(summary, rows, out, fmt, prices)
    return out.getvalue()


# --- helpers ---------------------------------------------------------------------------------
async def _load(service: AuditService, session_id: str) -> tuple[SessionSummary, list[StoredEvent]]:
    summary = await service.store.session(session_id)
    if summary is None:
        raise _Denied(404, "no such session")
    return summary, await service.store.events(session_id)


def _summary(summary: SessionSummary) -> dict[str, Any]:
    data = summary.as_dict()
    ended = summary.ended_at
    data["duration"] = None if ended is None else round(ended - summary.started_at, 3)
    return data


def _time(value: str | None, name: str) -> float | None:
    """Unix seconds, or ISO 8601 (a date or date-time; without a zone: UTC)."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise _Denied(400, f"{name}: use unix seconds or an ISO 8601 date/time") from exc
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    if not math.isfinite(number):
        raise _Denied(400, f"{name}: use unix seconds or an ISO 8601 date/time")
    return number


def _limit(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_LIMIT
    try:
        limit = int(value)
    except ValueError as exc:
        raise _Denied(400, f"limit must be an integer from 1 to {MAX_LIMIT}") from exc
    if not 1 <= limit <= MAX_LIMIT:
        raise _Denied(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
    return limit
