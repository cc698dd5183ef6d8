"""`voxroom audit …` through typer's CliRunner, on a real SQLite store."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.audit.sessions import emit_session, emit_turns
from voxroom.audit import events as ev
from voxroom.audit.cli import audit_app
from voxroom.audit.export import verify_export
from voxroom.audit.log import SessionEventLog
from voxroom.audit.store import AuditStore
from voxroom.audit.writer import AuditWriter

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("VOXROOM_AUDIT__URL", raising=False)
    path = tmp_path / "audit.db"

    async def record() -> None:
        async with AuditStore(str(path)) as store, AuditWriter(store) as writer:
            for session_id, agent in (("abc1", "concierge"), ("abc2", "concierge"), ("x9", "bot")):
                log = SessionEventLog(session_id)
                writer.attach(log)
                emit_session(log, turns=1, agent=agent)

    asyncio.run(record())
    return path


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(audit_app, list(args))
    return result.exit_code, result.output


def test_list(db: Path) -> None:
    code, output = run("list", "--db", str(db))
    assert code == 0 and all(sid in output for sid in ("abc1", "abc2", "x9"))
    code, output = run("list", "--db", str(db), "--json", "--limit", "2")
    rows = [json.loads(line) for line in output.splitlines()]
    assert code == 0 and len(rows) == 2 and rows[0]["id"] == "x9"  # newest first
    code, output = run("list", "--db", str(db), "--since", "1h", "--json")
    assert len(output.splitlines()) == 3
    code, output = run("list", "--db", str(db), "--since", "2999-01-01")
    assert code == 0 and "no sessions" in output
    code, output = run("list", "--db", str(db), "--since", "yesterday")
    assert code == 2 and "ISO" in output


def test_list_by_agent(db: Path) -> None:
    code, output = run("list", "--db", str(db), "--agent", "bot", "--json")
    assert code == 0 and [json.loads(line)["id"] for line in output.splitlines()] == ["x9"]
    code, output = run("list", "--db", str(db), "--agent", "nobody")
    assert code == 0 and "no sessions" in output


def test_show_by_unique_prefix(db: Path) -> None:
    code, output = run("show", "x", "--db", str(db))
    assert code == 0, output
    for text in ("session_started", "user_transcript", "llm_response", "session_ended", "[EMAIL]"):
        assert text in output
    assert "example.com" not in output
    code, output = run("show", "abc", "--db", str(db))
    assert code == 2 and "several" in output
    code, output = run("show", "nope", "--db", str(db))
    assert code == 2 and "no audited session" in output


def test_export_json_and_jsonl(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "x9.json"
    code, _ = run("export", "x9", "--db", str(db), "--output", str(out))
    assert code == 0
    exported = json.loads(out.read_text())
    assert exported["session"]["id"] == "x9" and exported["usage_by_turn"]["1"]["cost"] > 0
    assert [e["seq"] for e in exported["events"]] == list(range(1, 12))
    assert verify_export(out).ok

    code, output = run("export", "x9", "--db", str(db), "--format", "jsonl")
    lines = [json.loads(line) for line in output.splitlines()]
    assert code == 0 and lines[0]["record"] == "session" and len(lines) == 12
    assert all(line["record"] == "event" for line in lines[1:])
    jsonl = tmp_path / "x9.jsonl"
    jsonl.write_text(output)
    assert verify_export(jsonl).ok

    exported["events"][4]["event"]["text"] = "edited"
    out.write_text(json.dumps(exported))
    assert verify_export(out).first_bad_seq == 5


def test_show_and_export_usage_per_participant(db: Path, tmp_path: Path) -> None:
    async def record() -> None:
        async with AuditStore(str(db)) as store, AuditWriter(store) as writer:
            log = SessionEventLog("named")
            writer.attach(log)
            log.emit(ev.SessionStarted(agent="concierge", transport="memory"))
            log.emit(ev.ParticipantJoined(identity="alice", role="user"))
            log.emit(ev.ParticipantJoined(identity="concierge", role="agent"))
            log.emit(ev.TTSUsage(
                turn_id=1, provider="piper", characters=12, audio_seconds=1.0, duration_ms=9.0
            ))  # fmt: skip
            emit_turns(log, first=2, turns=1)
            log.emit(ev.SessionEnded(reason="peer left"))

    asyncio.run(record())
    code, output = run("show", "named", "--db", str(db))
    assert code == 0, output
    assert "user alice: tokens 1000+100  stt 1.5 s  tts 10 chars" in output
    assert "agent concierge: tokens 0+0  stt 0.0 s  tts 12 chars" in output
    assert "alice (user)" in output  # the participant_joined event in the timeline

    out = tmp_path / "named.json"
    assert run("export", "named", "--db", str(db), "--output", str(out))[0] == 0
    user, agent = json.loads(out.read_text())["usage_by_participant"]
    assert (user["identity"], user["prompt_tokens"], user["tts_characters"]) == ("alice", 1000, 10)
    assert (agent["identity"], agent["prompt_tokens"], agent["tts_characters"]) == (
        "concierge", 0, 12,
    )  # fmt: skip


def test_verify_exit_codes(db: Path) -> None:
    code, output = run("verify", "x9", "--db", str(db))
    assert code == 0 and "OK x9: 11 events" in output
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE events SET payload = REPLACE(payload, 'Certainly', 'No') "
            "WHERE session_id = 'x9' AND seq = 7"
        )
    code, output = run("verify", "x9", "--db", str(db))
    assert code == 1 and "TAMPERED x9: seq 7" in output
    assert run("verify", "abc1", "--db", str(db))[0] == 0


def test_purge(db: Path, tmp_path: Path) -> None:
    files = tmp_path / "files"
    (files / "x9").mkdir(parents=True)
    code, output = run("purge", "--older-than", "1", "--db", str(db), "--files-dir", str(files))
    assert code == 0 and "purged 0 sessions" in output and (files / "x9").exists()
    code, output = run("purge", "--older-than", "0", "--db", str(db), "--files-dir", str(files))
    assert code == 0 and "purged 3 sessions" in output and not (files / "x9").exists()
    assert "no sessions" in run("list", "--db", str(db))[1]


def test_database_from_the_environment(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOXROOM_AUDIT__URL", f"sqlite:///{db}")
    code, output = run("list", "--json")
    assert code == 0 and len(output.splitlines()) == 3


def test_default_database_is_in_the_cache_dir(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    (cache / "audit").mkdir(parents=True)
    db.rename(cache / "audit" / "audit.db")
    monkeypatch.setenv("VOXROOM_CACHE_DIR", str(cache))
    code, output = run("list", "--json")
    assert code == 0 and len(output.splitlines()) == 3
