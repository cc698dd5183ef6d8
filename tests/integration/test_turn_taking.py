"""The turn-taking eval set (as `voxroom bench turns --quick` runs it) with loose thresholds:
these catch a broken engine, the benchmark reports the real figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import RunningServer
from voxroom.bench.turns import run_eval, summarize

pytestmark = pytest.mark.slow


async def test_turn_taking_eval_set(server: RunningServer, tmp_path: Path) -> None:
    report = summarize(await run_eval(server.url, tmp_path, ["espeak", "piper"], quick=True))
    detail = f"{ {k: v for k, v in report.items() if k != 'results'} }\n{report['results']}"
    assert report["counts"]["paused"] >= 4, detail
    assert report["false_cutoff_rate"] <= 0.34, detail
    # Loose on purpose (2 cores, other jobs): a broken barge-in or resume path fails these;
    # the real rates come from `voxroom bench turns` (docs/benchmarks.md).
    assert report["barge_ins_interrupted_rate"] >= 0.5, detail
    if report["counts"]["false_interruption_trials"] >= 2:
        assert report["false_interruption_rate"] < 1.0, detail
    if report["counts"]["barge_in"]:  # trials where the agent had already stopped are void
        assert report["barge_in_stop_ms"]["p50"] < 1000, detail
    assert report["eot_delay_ms"]["p50"] is not None and report["eot_delay_ms"]["p50"] < 1000
    # Every user turn got a spoken answer (issue 13: a reply synthesized but never played).
    assert report["failed_trials"] == 0, detail
    assert report["no_reply_rate"] == 0, f"{report['unanswered_turns']}\n{detail}"
