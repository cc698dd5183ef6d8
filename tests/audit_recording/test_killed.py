"""A session killed with SIGKILL after a flush leaves valid WAVs holding what was flushed; a
kill inside a flush leaves audio past a header, which `repair_recording` brings inside it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from voxroom.audit.wavfiles import repair_recording

from .killed_child import BOB_JOINS, BOB_MARKER, MARKER
from .synthetic import marker_offset, marker_strength, read_wav

ROOT = Path(__file__).resolve().parents[2]
RATE = 16000
HEADER = 44


def run_child(directory: Path, mode: str) -> dict[str, int]:
    child = subprocess.run(
        [sys.executable, "-m", "tests.audit_recording.killed_child", str(directory), mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    flushed: dict[str, int] = json.loads(child.stdout)
    return flushed


def channels(name: str) -> int:
    return 2 if name == "stereo.wav" else 1


def frames_on_disk(path: Path) -> int:
    return (path.stat().st_size - HEADER) // (2 * channels(path.name))


def test_killed_session_leaves_valid_files_up_to_the_last_flush(tmp_path: Path) -> None:
    flushed = run_child(tmp_path, "one")
    assert flushed["user.wav"] > 2 * RATE  # most of the 3 s (the rest waits in lookahead)

    for name, frames in flushed.items():
        samples, rate = read_wav(tmp_path / name)  # the header parses and covers the data
        assert rate == RATE
        assert samples.shape == (frames, channels(name))
    user, _ = read_wav(tmp_path / "user.wav")
    assert abs(marker_offset(user[:, 0], RATE, MARKER)) <= 0.020


def test_a_room_killed_mid_flush_leaves_participant_files_repair_makes_whole(
    tmp_path: Path,
) -> None:
    flushed = run_child(tmp_path, "room")
    own = ["participant-1-alice.wav", "participant-2-bob.wav"]
    assert sorted(flushed) == sorted(["user.wav", "agent.wav", "stereo.wav", *own])
    for name, frames in flushed.items():
        samples, rate = read_wav(tmp_path / name)  # every file parses after the kill
        assert rate == RATE
        assert frames <= samples.shape[0] <= frames_on_disk(tmp_path / name), name
    # The first participant file got its block, not its sizes: audio past the header.
    first, _ = read_wav(tmp_path / own[0])
    assert first.shape[0] == flushed[own[0]] < frames_on_disk(tmp_path / own[0])

    repaired = repair_recording(tmp_path, RATE)
    assert repaired is not None
    assert [file.path.name for file in repaired.participants] == own  # in join order
    for file in repaired:
        samples, _ = read_wav(file.path)
        assert samples.shape == (file.frames, channels(file.path.name))
        assert file.frames == frames_on_disk(file.path), file
    assert repaired.participants[0].frames > flushed[own[0]]

    alice, bob = (read_wav(tmp_path / name)[0][:, 0] for name in own)
    assert abs(marker_offset(alice, RATE, MARKER)) <= 0.020
    assert abs(marker_offset(bob, RATE, BOB_MARKER)) <= 0.020
    assert not bob[: round((BOB_JOINS - 0.03) * RATE)].any()  # silent until they joined
    for track, marker, other in ((alice, MARKER, bob), (bob, BOB_MARKER, alice)):
        _, here = marker_strength(track, RATE, marker)
        _, there = marker_strength(other, RATE, marker)
        assert there < 0.05 * here, marker
    user = read_wav(tmp_path / "user.wav")[0][:, 0]
    both = min(user.size, alice.size, bob.size)  # the mix waits for the slower track
    mix = np.clip(alice[:both].astype(np.int32) + bob[:both], -32768, 32767)
    assert np.array_equal(user[:both], mix)
