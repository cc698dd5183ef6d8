"""`voxroom audit …`: list, show, export, verify and purge audited sessions."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from voxroom.audit.config import AuditConfig
from voxroom.audit.export import (
    ExportFormat,
    load_session,
    typed_events,
    verify_rows,
    write_export,
)
from voxroom.audit.records import SessionSummary, StoredEvent
from voxroom.audit.retention import purge as purge_sessions
from voxroom.audit.store import AuditStore, normalize_url
from voxroom.cli_errors import OperatorError, OperatorErrors, check_agent
from voxroom.config import VoxroomConfig
from voxroom.runner import price_table

T = TypeVar("T")

audit_app = typer.Typer(
    help="The audit trail: list, inspect, export, verify and purge sessions.",
    no_args_is_help=True,
    cls=OperatorErrors,
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

Db = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="VOXROOM_AUDIT__URL",
        help="Database URL or SQLite file (default: <cache dir>/audit/audit.db).",
        show_default=False,
    ),
]
SessionId = Annotated[str, typer.Argument(help="Session id (or a unique prefix of it).")]
_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class UnknownSession(OperatorError):
    exit_code = 2  # a bad argument, like typer's usage errors


@audit_app.command("list")
def list_sessions(
    agent: Annotated[str | None, typer.Option(help="Only this agent's sessions.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Started at or after: ISO date/time, or ago: 30m, 12h, 7d.")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Started before (same forms).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
    db: Db = None,
) -> None:
    """Sessions, newest first, with their totals."""
    start, end = _parse_time(since, "--since"), _parse_time(until, "--until")
    if start is not None and end is not None and end <= start:
        raise typer.BadParameter("must be later than --since", param_hint="--until")
    found = _run(db, lambda store: store.list_sessions(agent, start, end, limit))
    if as_json:
        for summary in found:
            print(json.dumps(summary.as_dict(), ensure_ascii=False))
        return
    table = Table("session", "agent", "started", "duration", "turns", "tokens", "cost", "ended")
    for s in found:
        duration = f"{s.ended_at - s.started_at:.0f} s" if s.ended_at else "-"
        tokens = f"{s.prompt_tokens}+{s.completion_tokens}"
        table.add_row(
            s.id, s.agent, _when(s.started_at), duration, str(s.turns), tokens,
            f"{s.cost:.4f}", s.end_reason or "(open)",
        )  # fmt: skip
    out.print(table if found else "no sessions")


@audit_app.command()
def show(session_id: SessionId, db: Db = None) -> None:
    """A session's timeline: session time, event, turn and what happened."""

    summary, rows = _run(db, lambda store: _load(store, session_id))
    usage = price_table(_config().prices).summarize(typed_events(rows))
    out.print(f"[bold]{summary.id}[/]  agent {summary.agent}  started {_when(summary.started_at)}")
    out.print(
        f"turns {summary.turns}  tokens {summary.prompt_tokens}+{summary.completion_tokens}  "
        f"stt {summary.stt_seconds:.1f} s  tts {summary.tts_characters} chars  "
        f"cost {summary.cost:.4f}  ended: {summary.end_reason or '(open)'}"
    )
    for participant in usage.participants:
        used = participant.usage
        out.print(
            f"  {participant.role} {escape(participant.identity or '(unnamed)')}: "
            f"tokens {used.prompt_tokens}+{used.completion_tokens}  "
            f"stt {used.stt_seconds:.1f} s  tts {used.tts_characters} chars  cost {used.cost:.4f}"
        )
    table = Table("t", "seq", "type", "turn", "what")
    for data in (row.data() for row in rows):
        turn = data.get("turn_id")
        table.add_row(
            f"{data.get('t', 0.0):.3f}", str(data.get("seq")), str(data.get("type")),
            "" if turn is None else str(turn), describe(data),
        )  # fmt: skip
    out.print(table)


@audit_app.command()
def export(
    session_id: SessionId,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="json or jsonl.")] = "json",
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    db: Db = None,
) -> None:
    """Export a session: summary, usage per turn and every event with its chain links."""
    summary, rows = _run(db, lambda store: _load(store, session_id))
    prices = price_table(_config().prices)
    if output is None:
        write_export(summary, rows, sys.stdout, fmt, prices)
        return
    with output.open("w", encoding="utf-8") as file:
        write_export(summary, rows, file, fmt, prices)
    err.print(f"exported {len(rows)} events of {summary.id} to {output}")


@audit_app.command()
def verify(session_id: SessionId, db: Db = None) -> None:
    """Check a session's hash chain. Exit code 0: intact; 1: tampered (names the first bad seq)."""
    summary, rows = _run(db, lambda store: _load(store, session_id))
    result = verify_rows(summary, rows)
    if result.ok:
        print(f"OK {summary.id}: {result.checked} events, chain intact, head {result.head_hash}")
        return
    print(f"TAMPERED {summary.id}: seq {result.first_bad_seq}: {result.reason}")
    raise typer.Exit(1)


@audit_app.command()
def purge(
    older_than: Annotated[
        float,
        typer.Option("--older-than", min=0, help="Delete sessions started more than DAYS ago."),
    ],
    files_dir: Annotated[
        Path | None,
        typer.Option(
            exists=True,  # a mistyped folder would purge the events but keep the recordings
            file_okay=False,
            help="Session files root (default: <cache dir>/audit/files).",
        ),
    ] = None,
    db: Db = None,
) -> None:
    """Delete old sessions: their events, summaries and files (recordings)."""
    root = files_dir or _config().files_dir(_cache_dir())
    ids = _run(db, lambda store: purge_sessions(store, older_than, root))
    for session_id in ids:
        out.print(session_id)
    err.print(f"purged {len(ids)} sessions older than {older_than:g} days")


@audit_app.command()
def replay(
    session_id: SessionId,
    agent: Annotated[
        str, typer.Option(callback=check_agent, help="Agent to replay through (module:Class).")
    ] = "voxroom.apps.assistant:Assistant",
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    db: Db = None,
) -> None:
    """Feed a session's recorded user audio through an agent; compare transcripts and latency."""
    from voxroom.audit.replay import replay as run_replay

    async def load(store: AuditStore) -> tuple[str, list[StoredEvent]]:
        resolved = await _resolve(store, session_id)
        return resolved, (await load_session(store, resolved))[1]

    resolved, rows = _run(db, load)
    report = run_replay(resolved, rows, _config().files_dir(_cache_dir()) / resolved, agent)
    if json_out:
        print(json.dumps({"session_id": resolved, "agent": agent, "turns": report.rows()}))
        return
    table = Table("turn", "user (recorded → replayed)", "agent (recorded → replayed)", "total ms")
    for row in report.rows():
        same = "=" if row["user_same"] else "≠"
        table.add_row(
            str(row["turn"]),
            f"{row['user_before']}\n{same} {row['user_after']}",
            f"{row['agent_before']}\n→ {row['agent_after']}",
            f"{row['total_ms_before']} → {row['total_ms_after']}",
        )
    out.print(table)


def describe(data: dict[str, Any]) -> str:
    """One short line about an event, for timelines."""
    kind = data.get("type")
    text: str
    if kind == "session_started":
        models = " ".join(f"{k}={v}" for k, v in (data.get("models") or {}).items())
        text = f"{data.get('agent')} over {data.get('transport')} {models}"
    elif kind == "session_ended":
        text = str(data.get("reason"))
        if isinstance(recovered := data.get("recovered_at"), int | float):
            text += f" (closed by start-up recovery at {_when(recovered)})"
    elif kind == "participant_joined":
        text = f"{data.get('identity')} ({data.get('role')})"
    elif kind == "track_started":
        text = f"{data.get('direction')} {data.get('kind')} of {data.get('participant')}"
    elif kind == "state_changed":
        text = str(data.get("state"))
    elif kind == "user_transcript":
        text = f"{'' if data.get('final') else '(interim) '}{data.get('text')}"
    elif kind == "agent_speech":
        flags = " (interrupted)" if data.get("interrupted") else ""
        text = f"{'' if data.get('final') else '(playing) '}{data.get('played_text')}{flags}"
    elif kind == "llm_request":
        messages = data.get("messages") or [{}]
        text = f"{data.get('model')}: {len(messages)} messages, last: {messages[-1].get('content')}"
    elif kind == "llm_response":
        tokens = f"{data.get('prompt_tokens')}+{data.get('completion_tokens')} tok"
        text = f"{data.get('finish_reason')} {tokens}, ttft {data.get('ttft_ms')} ms: "
        text += str(data.get("text"))
    elif kind == "stt_usage":
        text = (
            f"{data.get('purpose')} {data.get('audio_seconds')} s in {data.get('duration_ms')} ms"
        )
    elif kind == "tts_usage":
        text = f"{data.get('characters')} chars → {data.get('audio_seconds')} s"
    elif kind == "turn_metrics":
        timings = [(k[:-3], v) for k, v in data.items() if k.endswith("_ms") and v is not None]
        text = ", ".join(f"{name} {value:g} ms" for name, value in timings)
    elif kind == "error":
        text = f"{data.get('component')}: {data.get('message')}"
    else:
        skip = {"type", "session_id", "seq", "ts", "t", "turn_id"}
        text = json.dumps({k: v for k, v in data.items() if k not in skip}, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= 120 else text[:119] + "…"


# --- helpers ---------------------------------------------------------------------------------
def _config() -> AuditConfig:
    # VoxroomConfig's `audit` section when it has one (VOXROOM_AUDIT__* variables).
    audit = getattr(VoxroomConfig.from_env(), "audit", None)
    return audit if isinstance(audit, AuditConfig) else AuditConfig()


def _cache_dir() -> Path:
    return VoxroomConfig.from_env().models.cache_dir


def _run(db: str | None, work: Callable[[AuditStore], Awaitable[T]]) -> T:
    url = _database_url(db)

    async def main() -> T:
        store = AuditStore(url)
        try:
            await store.open()
        except (OSError, DBAPIError) as exc:  # unreachable server, refused login, unusable file
            shown = make_url(url).render_as_string(hide_password=True)
            reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
            raise OperatorError(f"cannot open the audit database {shown}: {reason}") from exc
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(main())


def _database_url(db: str | None) -> str:
    """--db (or the configured store); a SQLite file that was named but is not there is an
    error: opening it would create an empty store and answer "no sessions"."""
    config = _config()
    url = normalize_url(db) if db else config.database_url(_cache_dir())
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise OperatorError(f"--db {db!r} is neither a database URL nor a file path") from exc
    named = db is not None or config.url is not None or config.dir is not None
    path = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if named and path and path != ":memory:" and not Path(path).is_file():
        raise OperatorError(
            f"no audit database at {path}: check --db (or VOXROOM_AUDIT__URL, VOXROOM_AUDIT__DIR)"
        )
    return url


async def _resolve(store: AuditStore, session_id: str) -> str:
    if await store.session(session_id) is not None:
        return session_id
    matches = await store.list_sessions(id_prefix=session_id, limit=2)
    if len(matches) == 1:
        return matches[0].id
    if not matches:
        raise UnknownSession(f"no audited session {session_id!r} (voxroom audit list shows them)")
    raise UnknownSession(f"{session_id!r} matches several sessions: give more of the id")


async def _load(store: AuditStore, session_id: str) -> tuple[SessionSummary, list[StoredEvent]]:
    return await load_session(store, await _resolve(store, session_id))


def _parse_time(value: str | None, option: str) -> float | None:
    if value is None:
        return None
    if match := _RELATIVE.fullmatch(value.strip()):
        return time.time() - float(match.group(1)) * _UNIT_S[match.group(2)]
    try:
        return datetime.fromisoformat(value).timestamp()  # naive: local time
    except ValueError as exc:
        raise typer.BadParameter("use an ISO date/time or 30m, 12h, 7d", param_hint=option) from exc


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")
