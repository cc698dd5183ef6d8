"""`voxroom bench answers --quick` with the packaged model, through the real engine."""

from __future__ import annotations

import pytest

from voxroom.bench.answers import QUICK, TARGETS, run_answers_bench

pytestmark = pytest.mark.slow  # the packaged Gemma: ~45 s on 2 quiet cores, minutes when busy


def test_quick_bench_reports_every_figure_through_the_real_engine() -> None:
    report = run_answers_bench(quick=True)

    assert report["llm"].startswith("llama.cpp:gemma-3-270m")
    assert report["questions"] == 2 * QUICK["questions"]
    for key in TARGETS:
        assert report[key] is not None and 0 <= report[key] <= 1, key
    assert report["answer_ms"]["p50"] > 0
    assert report["failed_turns"] == 0
    assert sum(s["turns"] for s in report["long_sessions"]) == QUICK["long_turns"]
    assert len(report["tool_turns"]) == QUICK["tool_turns"]
    # The engine's guard: a booking runs only where the guest asked for one.
    for row in report["tool_turns"]:
        assert row["asked"] or not row["calls"], row
    assert report["tool_precision"] == 1.0
