"""A session killed with SIGKILL after a flush leaves valid WAVs holding what was flushed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from .killed_child import MARKER
from .synthetic import marker_offset, read_wav

ROOT = Path(__file__).resolve().parents[2]


def test_killed_session_leaves_valid_files_up_to_the_last_flush(tmp_path: Path) -> None:
    child = subprocess.run(
        [sys.executable, "-m", "tests.audit_recording.killed_child", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    flushed: dict[str, int] = json.loads(child.stdout)
    assert flushed["user.wav"] > 2 * 16000  # most of the 3 s (the rest waits in lookahead)

    for name, frames in flushed.items():
        samples, rate = read_wav(tmp_path / name)  # the header parses and covers the data
        assert rate == 16000
        assert samples.shape == (frames, 2 if name == "stereo.wav" else 1)
    user, _ = read_wav(tmp_path / "user.wav")
    assert abs(marker_offset(user[:, 0], 16000, MARKER)) <= 0.020
