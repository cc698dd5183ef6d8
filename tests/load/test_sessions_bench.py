"""bench/sessions.py against a real server: a short ramp, checked for shape and sanity
(no timed thresholds: this machine's figures are in docs/benchmarks.md)."""

from __future__ import annotations

import pytest

from voxroom.bench.sessions import QUICK_STEPS, run_sessions_bench

pytestmark = pytest.mark.slow


@pytest.mark.timeout(600)
def test_quick_ramp_measures_every_step() -> None:
    report = run_sessions_bench(quick=True)
    steps = report["steps"]
    counts = [step["sessions"] for step in steps]
    assert counts and counts == QUICK_STEPS[: len(counts)]  # stops early only at a failing step
    assert all(step["holds"] for step in steps[:-1])
    first = steps[0]
    assert first["holds"], first  # one idle session is real time on any machine
    # The idle agent's DTX keep-alives: 2.5 a second, none late by more than a few frames.
    assert 2.0 <= first["fps_median"] <= 3.0 and first["loss_in_pct"] == 0
    assert first["max_late_ms"] < 100
    assert report["config"]["agent_audio"] == "opus dtx"

    for key in ("sessions_per_core", "idle_cpu_pct_per_session", "mem_mb_per_session"):
        assert report[key] is not None, key
    assert report["sessions_per_core"] >= 1
    assert 0 < report["idle_cpu_pct_per_session"] < 100
    assert -50 < report["mem_mb_per_session"] < 100
    assert report["max_sessions_held"] >= 1
    assert report["idle"]["sessions"] == 0 and report["idle"]["server_cpu_pct"] < 20

    for step in steps:
        assert step["server_cpu_pct"] > report["idle"]["server_cpu_pct"]
        assert step["server_fds"] > report["idle"]["server_fds"]  # sockets per session
        assert step["client_cpu_pct"] > 0
        assert step["agent_messages"] == 0  # near-silence never makes a turn
    assert report["cleanup"]["drained"] and not report["cleanup"]["connect_errors"]
    assert report["server_errors"] == []
