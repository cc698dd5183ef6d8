"""Operator mistakes: one clear line and a non-zero exit, never a traceback or a silent success.

typer's usage errors (a bad option value) exit 2; the mistakes voxroom finds itself (bad
settings, missing or wrong model files, a port in use, an unusable folder) print one
`error: …` line on stderr and exit 1. `voxroom dev` finds every one of them before it loads
a model: `no_model_loading` fails the test if it gets that far.
"""

from __future__ import annotations

import asyncio
import errno
import importlib.util
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from importlib.machinery import ModuleSpec
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.audit.sessions import emit_session
from voxroom.audit.log import SessionEventLog
from voxroom.audit.store import AuditStore
from voxroom.audit.writer import AuditWriter
from voxroom.bench.harness import free_port
from voxroom.cli import app
from voxroom.config import VoxroomConfig
from voxroom.runner import _bind_problem, check_startup

SECRET = "operator-mistakes-secret-0123456789abcdef"
MODEL_CACHE = os.environ.get("VOXROOM_CACHE_DIR")  # the real one, for runs that load models
runner = CliRunner()


def run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def assert_usage_error(result: Result, *words: str) -> None:
    """typer's answer: exit 2, the option and the problem on stderr, nothing on stdout."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output and not result.stdout
    for word in words:
        assert word in " ".join(result.stderr.replace("│", " ").split()), result.stderr


def assert_one_line(result: Result, *words: str, code: int = 1) -> str:
    """voxroom's answer: exactly one line on stderr, saying what is wrong; exit `code`."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert not result.stdout
    return lines[0]


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh cache and audit folder; no VOXROOM_* setting from outside the test."""
    for key in list(os.environ):
        if key.startswith("VOXROOM_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("VOXROOM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("VOXROOM_SECRET", SECRET)


@pytest.fixture(autouse=True)
def no_model_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("the mistake was not caught before the models load")

    monkeypatch.setattr("voxroom.providers.models.ModelCache.prepare_all", refuse)
    monkeypatch.setattr("voxroom.providers.factory.load_models", refuse)


@pytest.fixture
def listening() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    """A file that exists and is not a model (like /etc/hostname)."""
    path = tmp_path / "hostname"
    path.write_text("box\n")
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "audit.db"

    async def record() -> None:
        async with AuditStore(str(path)) as store, AuditWriter(store) as writer:
            log = SessionEventLog("x9")
            writer.attach(log)
            emit_session(log, turns=1, agent="bot")

    asyncio.run(record())
    return path


# --- voxroom dev ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--port", "80000"], ["--port", "65535"]),
        (["--port", "0"], ["--port"]),
        (["--port", "-1"], ["--port"]),
        (["--port", "http"], ["--port"]),
        (["--agent", "no_such_module:Bot"], ["--agent", "No module named 'no_such_module'"]),
        (["--agent", "voxroom.runner:Nope"], ["--agent", "has no 'Nope'"]),
        (["--agent", "voxroom.runner:serve"], ["--agent", "not a voxroom.Agent subclass"]),
        (["--agent", "missing_file.py:Bot"], ["--agent", "no such file"]),
        (["--agent", "voxroom.apps.assistant"], ["--agent", "'module:Class'"]),
        (["--llm-model", "qwen"], ["--llm-model", "http(s)://"]),
    ],
)
def test_dev_usage_errors(args: list[str], words: list[str]) -> None:
    assert_usage_error(run("dev", *args), *words)


def test_dev_llm_model_with_a_url_is_accepted_as_far_as_the_port(listening: int) -> None:
    result = run("dev", "--llm", "http://127.0.0.1:9/v1", "--llm-model", "qwen",
                 "--port", str(listening))  # fmt: skip
    assert_one_line(result, "in use")  # got past --llm-model, stopped before the models


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--llm", "/nonexistent.gguf", ["LLM '/nonexistent.gguf'", "no such file"]),
        ("--llm", "{file}", ["not a GGUF model file"]),
        ("--llm", "{dir}", ["is a folder"]),
        ("--llm", "htp://gpu-box/v1", ["only http:// and https://"]),
        ("--llm", "http://", ["no host"]),
        ("--llm", "http://gpu-box:99999/v1", ["not a valid URL"]),
        ("--llm", "gemma3-270m,/nonexistent.gguf", ["/nonexistent.gguf", "no such file"]),
        ("--stt", "/nonexistent/whisper", ["STT", "no such folder"]),
        ("--stt", "{file}", ["not a folder"]),
        ("--stt", "{dir}", ["no model.bin"]),
        ("--stt", "whisper-huge", ["unknown model", "whisper-base"]),
        ("--stt", "ftp://asr/v1", ["only http:// and https://"]),
        ("--tts", "/nonexistent.onnx", ["TTS", "no such file"]),
        ("--tts", "{file}", [".onnx.json"]),
        ("--tts", "espeak-ng", ["no such file", "'espeak'"]),
    ],
)
def test_dev_model_mistakes(
    option: str, value: str, words: list[str], a_file: Path, tmp_path: Path
) -> None:
    value = value.format(file=a_file, dir=tmp_path)
    assert_one_line(run("dev", option, value), *words)


def test_dev_port_in_use(listening: int) -> None:
    assert_one_line(run("dev", "--port", str(listening)), f"port {listening}", "in use")


def test_dev_unknown_host(monkeypatch: pytest.MonkeyPatch) -> None:
    def unresolvable(*_: object, **__: object) -> None:  # no DNS query from a test
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unresolvable)
    assert_one_line(run("dev", "--host", "nosuchhost.invalid"), "nosuchhost.invalid", "--host")


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("VOXROOM_SERVER__MAX_SESSIONS", "abc", ["VOXROOM_SERVER__MAX_SESSIONS='abc'", "integer"]),
        ("VOXROOM_SERVER__MAX_SESSIONS", "-1", ["VOXROOM_SERVER__MAX_SESSIONS", "0"]),
        ("VOXROOM_SERVER__PORT", "80000", ["VOXROOM_SERVER__PORT", "65535"]),
        ("VOXROOM_SERVER__MAX_SESION", "4", ["is not a setting", "MAX_SESSIONS"]),
        ("VOXROOM_SEVRER__PORT", "8081", ["is not a setting", "SERVER"]),
        ("VOXROOM_ROOMS__JANUS_RTP_PORTS", "x", ["VOXROOM_ROOMS__JANUS_RTP_PORTS", "LOW-HIGH"]),
        ("VOXROOM_ROOMS__JANUS_RTP_PORTS", "300-200", ["LOW-HIGH"]),
        ("VOXROOM_ROOMS__JANUS", "embeded", ["VOXROOM_ROOMS__JANUS", "ws://"]),
        ("VOXROOM_ROOMS__MAX_ROOMS", "0", ["VOXROOM_ROOMS__MAX_ROOMS", "greater than 0"]),
        ("VOXROOM_TRANSPORT__DTX", "maybe", ["VOXROOM_TRANSPORT__DTX", "boolean"]),
        ("VOXROOM_TURNS__VAD_THRESHOLD", "1.5", ["VOXROOM_TURNS__VAD_THRESHOLD"]),
        ("VOXROOM_MODELS__LLM", " , ", ["VOXROOM_MODELS__LLM", "at least one model"]),
        ("VOXROOM_MODELS__LLM", "/nonexistent.gguf", ["LLM '/nonexistent.gguf'"]),
        ("VOXROOM_AUDIT__ENABLED", "nah", ["VOXROOM_AUDIT__ENABLED"]),
        ("VOXROOM_SECRET", "short", ["32", "VOXROOM_SECRET"]),
    ],
)
def test_dev_bad_settings(
    variable: str, value: str, words: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    assert_one_line(run("dev"), *words)


def test_dev_unwritable_folders(a_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOXROOM_AUDIT__DIR", str(a_file / "audit"))  # under a file: never works
    assert_one_line(run("dev"), "the audit folder", "VOXROOM_AUDIT__DIR")
    monkeypatch.setenv("VOXROOM_CACHE_DIR", str(a_file / "cache"))
    assert_one_line(run("dev"), "the cache folder", "VOXROOM_CACHE_DIR")


def test_dev_bad_price_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (prices := tmp_path / "prices.json").write_text("{not json")
    monkeypatch.setenv("VOXROOM_AUDIT__PRICES", str(prices))
    assert_one_line(run("dev"), "price table", "VOXROOM_AUDIT__PRICES")


# --- voxroom token ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--ttl", "-5"], ["--ttl"]),
        (["--ttl", "0"], ["--ttl"]),
        (["--ttl", "86401"], ["--ttl", "86400"]),
        (["--identity", ""], ["--identity"]),
        (["--identity", "x" * 65], ["--identity", "64"]),
        (["--scope", "admin"], ["--scope", "unknown scope 'admin'"]),
        (["--name", "Alice"], ["need --room"]),
        (["--language", "es"], ["need --room"]),
        (["--room", "my room"], ["--room", "room id"]),
        (["--room", ""], ["--room"]),
        (["--room", "r00m", "--scope", "audit"], ["--scope", "'room' scope"]),
        (["--room", "r00m", "--name", "A" * 65], ["'name'", "64"]),
        (["--room", "r00m", "--role", "r" * 65], ["'role'", "64"]),
        (["--room", "r00m", "--language", "l" * 65], ["'language'", "64"]),
    ],
)
def test_token_usage_errors(args: list[str], words: list[str]) -> None:
    assert_usage_error(run("token", *args), *words)


def test_token_good_answers_still_print_a_token() -> None:
    for args in ([], ["--ttl", "86400", "--scope", "rooms"], ["--room", "r00m", "--name", "Al"]):
        result = run("token", *args)
        assert result.exit_code == 0 and result.stdout.count(".") == 2, result.output


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("VOXROOM_SECRET", "short", ["at least 32 bytes", "VOXROOM_SECRET"]),
        ("VOXROOM_SERVER__TOKEN_TTL_S", "abc", ["VOXROOM_SERVER__TOKEN_TTL_S"]),
    ],
)
def test_token_bad_settings(
    variable: str, value: str, words: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    assert_one_line(run("token"), *words)


def test_token_unwritable_cache(a_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOXROOM_SECRET")  # the signing key would be generated in the cache
    monkeypatch.setenv("VOXROOM_CACHE_DIR", str(a_file / "cache"))
    assert_one_line(run("token"), "signing key", "VOXROOM_CACHE_DIR")


# --- voxroom models prepare -------------------------------------------------------------------
def test_models_prepare_unwritable_cache(a_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOXROOM_CACHE_DIR", str(a_file / "cache"))
    assert_one_line(run("models", "prepare"), "the cache folder", "VOXROOM_CACHE_DIR")


def test_models_prepare_bad_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOXROOM_MODELS__STT_THREADS", "0")
    assert_one_line(run("models", "prepare"), "VOXROOM_MODELS__STT_THREADS")


# --- voxroom audit ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["list", "--limit", "0"], ["--limit"]),
        (["list", "--limit", "-1"], ["--limit"]),  # was: every session (SQL LIMIT -1)
        (["list", "--since", "yesterday"], ["--since", "ISO"]),
        (["list", "--until", "7 days"], ["--until"]),
        (["list", "--since", "1h", "--until", "2h"], ["--until", "later than --since"]),
        (["export", "x9", "--format", "xml"], ["--format"]),
        (["purge", "--older-than", "-1"], ["--older-than"]),
        (["purge", "--older-than", "soon"], ["--older-than"]),
        (["purge", "--older-than", "1", "--files-dir", "/nonexistent/files"], ["--files-dir"]),
        (["replay", "x9", "--agent", "no_such_module:Bot"], ["--agent", "No module named"]),
    ],
)
def test_audit_usage_errors(args: list[str], words: list[str], db: Path) -> None:
    assert_usage_error(run("audit", *args, "--db", str(db)), *words)


@pytest.mark.parametrize("command", ["show", "export", "verify", "replay"])
def test_audit_unknown_session(command: str, db: Path) -> None:
    result = run("audit", command, "nope", "--db", str(db))
    assert_one_line(result, "no audited session 'nope'", code=2)  # a bad argument: 2, as ever


def test_audit_database_mistakes(tmp_path: Path, a_file: Path, closed_port: int) -> None:
    missing = tmp_path / "typo.db"
    assert_one_line(run("audit", "list", "--db", str(missing)), "no audit database", "--db")
    assert not missing.exists()  # it used to create an empty store and say "no sessions"
    line = assert_one_line(run("audit", "list", "--db", str(a_file)), "cannot open the audit")
    assert "not a database" in line
    mysql = run("audit", "list", "--db", "mysql://user@db.example/audit")
    assert_one_line(mysql, "unsupported audit database 'mysql'")
    postgres = f"postgresql://voxroom:hunter2@127.0.0.1:{closed_port}/audit"
    line = assert_one_line(run("audit", "list", "--db", postgres), "cannot open the audit")
    assert "hunter2" not in line and "***" in line


def test_audit_folder_mistakes(a_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOXROOM_AUDIT__DIR", str(a_file / "audit"))
    for args in (["list"], ["show", "x9"], ["purge", "--older-than", "30"]):
        assert_one_line(run("audit", *args), "no audit database", "VOXROOM_AUDIT__DIR")


def test_audit_output_and_prices(db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    output = tmp_path / "missing" / "x9.json"
    result = run("audit", "export", "x9", "--db", str(db), "--output", str(output))
    assert_one_line(result, "No such file or directory", str(output))
    (prices := tmp_path / "prices.json").write_text('{"currency": "EUR"}')
    monkeypatch.setenv("VOXROOM_AUDIT__PRICES", str(prices))
    assert_one_line(run("audit", "show", "x9", "--db", str(db)), "price table", "not valid")


def test_audit_replay_without_recordings(db: Path) -> None:
    assert_one_line(run("audit", "replay", "x9", "--db", str(db)), "no user recording")


def test_audit_bad_setting(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOXROOM_MODELS__LLM_THREADS", "many")
    assert_one_line(run("audit", "list", "--db", str(db)), "VOXROOM_MODELS__LLM_THREADS")


# --- voxroom bench ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["latency", "--turns", "0"], "--turns"),
        (["latency", "--turns", "-2"], "--turns"),
        (["overhead", "--turns", "0"], "--turns"),
        (["video", "--seconds", "-1"], "--seconds"),
        (["video", "--seconds", "1"], "--seconds"),  # the first 2 s are warm-up
        (["video", "--fps", "0"], "--fps"),
        (["video", "--fps", "240"], "--fps"),
        (["sessions", "--max-sessions", "0"], "--max-sessions"),
        (["soak", "--duration", "-1"], "--duration"),
        (["soak", "--duration", "0"], "--duration"),
        (["rooms", "--max-rooms", "0"], "--max-rooms"),
    ],
)
def test_bench_usage_errors(args: list[str], option: str) -> None:
    assert_usage_error(run("bench", *args), option)


def test_bench_bad_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked before a benchmark server is started (it would fail with the child's log)."""
    monkeypatch.setenv("VOXROOM_SERVER__MAX_SESSIONS", "abc")
    assert_one_line(run("bench", "latency"), "VOXROOM_SERVER__MAX_SESSIONS")


# --- the real `voxroom dev` process -----------------------------------------------------------
def voxroom(*args: str, cache: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VOXROOM_AUDIT__DIR": os.environ["VOXROOM_CACHE_DIR"] + "/audit"}
    if not cache:  # the real model cache: these runs get as far as loading models
        del env["VOXROOM_CACHE_DIR"]
        env.update({"VOXROOM_CACHE_DIR": MODEL_CACHE} if MODEL_CACHE else {})
    command = [sys.executable, "-m", "voxroom", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=180)


def one_line(done: subprocess.CompletedProcess[str], code: int = 1) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr and not done.stdout, done.stderr
    assert lines and lines[-1].startswith("error: "), done.stderr
    return lines[-1]


def test_process_port_in_use(listening: int) -> None:
    done = voxroom("dev", "--port", str(listening))
    assert f"port {listening} on 127.0.0.1 is in use" in one_line(done)
    assert "loading models" not in done.stderr and len(done.stderr.splitlines()) == 1


def test_process_missing_model_file() -> None:
    """The reported case: a 60-line traceback after one useful warning."""
    done = voxroom("dev", "--llm", "/nonexistent.gguf")
    assert "/nonexistent.gguf': no such file" in one_line(done)
    assert len(done.stderr.splitlines()) == 1


def test_process_verbose_shows_the_traceback() -> None:
    done = voxroom("dev", "-v", "--llm", "/nonexistent.gguf")
    assert done.returncode == 1 and "Traceback" in done.stderr and "ModelSpecError" in done.stderr
    assert done.stderr.splitlines()[-1].startswith("error: LLM '/nonexistent.gguf'")


def test_process_file_that_passes_the_checks_but_is_not_a_model(tmp_path: Path) -> None:
    """A .gguf header and garbage: llama.cpp refuses it while the models load."""
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"GGUF" + b"\0garbage" * 64)
    done = voxroom("dev", "--llm", str(fake), "--tts", "espeak", cache=False)
    line = one_line(done)
    assert line.startswith("error: no LLM could be loaded") and str(fake) in line


def test_no_sessions_at_all_is_said_at_start(caplog: pytest.LogCaptureFixture) -> None:
    config = VoxroomConfig.from_env()
    config.server.port = free_port()
    config.server.max_sessions = 0  # allowed (tests use it), but not silently
    check_startup(config)
    assert "every call will be refused" in caplog.text


def test_semantic_cache_without_its_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def without_torch(name: str, package: str | None = None) -> ModuleSpec | None:
        return None if name == "torch" else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", without_torch)
    monkeypatch.setenv("VOXROOM_MODELS__RESPONSE_CACHE", "semantic")
    assert_one_line(run("dev"), "voxroom[semantic]", "missing: torch")


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.EACCES, "choose a port above 1023"),
        (errno.EADDRNOTAVAIL, "10.1.2.3 is not an address of this machine"),
        (errno.EADDRINUSE, "port 80 on 10.1.2.3 is in use"),
    ],
)
def test_bind_problems_say_what_to_change(code: int, words: str) -> None:
    """The bind errors a test cannot cause on loopback alone (no other address is used)."""
    assert words in _bind_problem(OSError(code, os.strerror(code)), "10.1.2.3", 80)
