"""Start-up recovery on each backend: only sessions of dead processes are closed (through
the hash chain), their WAVs repaired; live processes' and unknown sessions are never touched."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.audit.sessions import emit_session, emit_turns
from voxroom.audit import events as ev
from voxroom.audit.export import verify_session
from voxroom.audit.log import SessionEventLog
from voxroom.audit.recovery import CRASHED, recover
from voxroom.audit.store import AuditStore
from voxroom.audit.wavfiles import NotARecording, repair_recording
from voxroom.audit.writer import AuditWriter

ROOT = Path(__file__).resolve().parents[2]
RATE = 16000
# A server process as far as recovery can tell: it journals sessions under its lock, then runs.
SERVER = """
import sys, time
from pathlib import Path
from voxroom.audit.recovery import SessionJournal
journal = SessionJournal(Path(sys.argv[1]))
journal.open()
for session_id in sys.argv[2:]:
    journal.add(session_id)
print("ready", flush=True)
time.sleep(600)
"""


def start_server_process(journals: Path, *session_ids: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-c", SERVER, str(journals), *session_ids]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)


def wait_ready(child: subprocess.Popen[str]) -> None:
    assert child.stdout is not None and child.stdout.readline() == "ready\n"


def kill_9(child: subprocess.Popen[str]) -> None:
    child.send_signal(signal.SIGKILL)
    assert child.wait(10) == -signal.SIGKILL


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for child in started:
        if child.poll() is None:
            child.kill()
            child.wait()


def write_cut_wav(path: Path, channels: int, header_frames: int, extra_frames: int) -> None:
    """A WAV as a kill leaves it: a header covering `header_frames`, then `extra_frames`
    more appended after the header's last rewrite, and half a frame."""
    audio = (np.arange((header_frames + extra_frames) * channels) % 2000).astype("<i2").tobytes()
    split = header_frames * channels * 2
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(audio[:split])
    with path.open("ab") as file:
        file.write(audio[split:] + b"\x01")


def frames_of(path: Path) -> tuple[int, int]:
    """(frames the header says, frames the data holds)."""
    with wave.open(str(path), "rb") as wav:
        said, channels = wav.getnframes(), wav.getnchannels()
    return said, (path.stat().st_size - 44) // (2 * channels)


async def test_only_dead_processes_sessions_are_closed(
    db_url: str, tmp_path: Path, children: list[subprocess.Popen[str]]
) -> None:
    journals, files = tmp_path / "instances", tmp_path / "files"
    (files / "dead").mkdir(parents=True)
    for name, channels in (("user.wav", 1), ("agent.wav", 1), ("stereo.wav", 2)):
        write_cut_wav(files / "dead" / name, channels, RATE, RATE // 2)  # 1 s + 0.5 s cut
    async with AuditStore(db_url) as store:
        async with AuditWriter(store) as writer:
            for session_id in ("live", "dead", "dead-ended", "elsewhere"):
                log = SessionEventLog(session_id)
                writer.attach(log)
                emit_session(log, turns=1, end=session_id == "dead-ended")
        before = {s: await store.count_events(s) for s in ("live", "dead", "elsewhere")}
        live = start_server_process(journals, "live")
        dead = start_server_process(journals, "dead", "dead-ended")
        children += [live, dead]
        wait_ready(live)
        wait_ready(dead)
        kill_9(dead)
        # "elsewhere": open in the store, in no journal here (another machine's session).

        recovering = time.time()
        async with AuditWriter(store) as writer:
            assert await recover(store, writer, journals, files) == ["dead"]

        for session_id in ("live", "elsewhere"):  # untouched
            summary = await store.session(session_id)
            assert summary is not None and summary.ended_at is None
            assert await store.count_events(session_id) == before[session_id]
        ended = await store.session("dead-ended")
        assert ended is not None and ended.end_reason == "peer left"

        summary = await store.session("dead")
        assert summary is not None and summary.end_reason == CRASHED
        result = await verify_session(store, "dead")  # the chain must end in session_ended
        assert result.ok and result.checked == before["dead"] + 2, result.message()
        saved, closing = [row.data() for row in (await store.events("dead"))[-2:]]
        assert saved["type"] == "recording_saved" and saved["duration"] == 1.5
        assert saved["files"] == {"user": "user.wav", "agent": "agent.wav", "stereo": "stereo.wav"}
        # Stamped with the last sign of life: the end of the recording (after every event).
        assert closing["t"] == 1.5 and closing["ts"] == pytest.approx(summary.started_at + 1.5)
        assert recovering <= closing["recovered_at"] <= time.time()
        assert summary.ended_at == closing["ts"]
        for name in ("user.wav", "agent.wav", "stereo.wav"):
            assert frames_of(files / "dead" / name) == (RATE * 3 // 2, RATE * 3 // 2), name
        (remaining,) = journals.iterdir()  # the live process's journal only
        assert remaining.suffix == ".sessions"

        # The live process dies in its turn: the next start-up closes its session, once.
        kill_9(live)
        async with AuditWriter(store) as writer:
            assert await recover(store, writer, journals, files) == ["live"]
            assert await recover(store, writer, journals, files) == []
        assert (await verify_session(store, "live")).ok
        assert list(journals.iterdir()) == []
        summary = await store.session("elsewhere")
        assert summary is not None and summary.ended_at is None


def test_repair_leaves_good_files_alone_and_refuses_foreign_ones(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.mkdir()
    for name, channels in (("user.wav", 1), ("agent.wav", 1), ("stereo.wav", 2)):
        write_cut_wav(good / name, channels, 800, 0)
        (good / name).write_bytes((good / name).read_bytes()[:-1])  # no stray half frame
    stamps = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in good.iterdir()}
    files = repair_recording(good, RATE)
    assert files is not None and [f.frames for f in files] == [800, 800, 800]
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in good.iterdir()} == stamps

    # Killed before the first block: files shorter than a header become empty WAVs.
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "user.wav").write_bytes(b"")
    (empty / "agent.wav").write_bytes(b"RIFF")
    files = repair_recording(empty, RATE)  # stereo.wav was never created: it is now
    assert files is not None and [f.frames for f in files] == [0, 0, 0]
    for name in ("user.wav", "agent.wav", "stereo.wav"):
        assert frames_of(empty / name) == (0, 0)

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "user.wav").write_bytes(b"ID3" + bytes(100))
    with pytest.raises(NotARecording):
        repair_recording(foreign, RATE)
    assert (foreign / "user.wav").read_bytes() == b"ID3" + bytes(100)
    assert repair_recording(tmp_path / "missing", RATE) is None


async def test_participant_files_are_repaired_and_keyed_by_identity(
    db_url: str, tmp_path: Path, children: list[subprocess.Popen[str]]
) -> None:
    journals, files = tmp_path / "instances", tmp_path / "files"
    folder = files / "room"
    folder.mkdir(parents=True)
    own = ["participant-1-Alice_Smith.wav", "participant-2-bob.wav", "participant-3-carol.wav"]
    for name, channels in (("user.wav", 1), ("agent.wav", 1), ("stereo.wav", 2)):
        write_cut_wav(folder / name, channels, RATE, RATE // 2)
    for name in own:
        write_cut_wav(folder / name, 1, RATE // 2, RATE // 4)
    outside = tmp_path / "outside.wav"
    write_cut_wav(outside, 1, 10, 10)
    before = outside.read_bytes()
    (folder / "participant-4-link.wav").symlink_to(outside)  # never written through
    async with AuditStore(db_url) as store:
        async with AuditWriter(store) as writer:
            log = SessionEventLog("room")
            writer.attach(log)
            log.emit(ev.SessionStarted(agent="concierge", transport="memory", models={}))
            for identity in ("Alice Smith", "bob"):  # carol's join was never stored
                log.emit(ev.ParticipantJoined(identity=identity, role="user"))
            emit_turns(log, first=1, turns=1)
        dead = start_server_process(journals, "room")
        children.append(dead)
        wait_ready(dead)
        kill_9(dead)

        async with AuditWriter(store) as writer:
            assert await recover(store, writer, journals, files) == ["room"]

        saved = next(r.data() for r in await store.events("room") if r.type == "recording_saved")
        assert saved["files"] == {
            "user": "user.wav",
            "agent": "agent.wav",
            "stereo": "stereo.wav",
            "participant:Alice Smith": own[0],
            "participant:bob": own[1],
            "participant:carol": own[2],  # unknown to the log: its file's slug
        }
        for name in own:
            assert frames_of(folder / name) == (RATE * 3 // 4, RATE * 3 // 4), name
        assert outside.read_bytes() == before
        assert (await verify_session(store, "room")).ok
