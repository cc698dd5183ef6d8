"""bench/latency.py end to end with two turns: the report's shape and its internal
consistency (no timed thresholds: this machine's figures are in docs/benchmarks.md)."""

from __future__ import annotations

import pytest

from voxroom.bench.latency import QUESTIONS, SEQUENTIAL_EOT_WAIT_MS, run_latency_bench

pytestmark = pytest.mark.slow


@pytest.mark.timeout(600)
def test_latency_bench_reports_voxroom_beside_both_sequential_baselines() -> None:
    report = run_latency_bench(turns=2)

    assert report["turns"] == 2
    for turn, question in zip(report["per_turn"], QUESTIONS, strict=False):
        assert turn["question"] == question and turn["heard"] and turn["reply"]
        assert turn["voice_to_voice_ms"] > 0 and turn["speculative_stt"] is True
    stages = report["sequential_stages_ms"]
    assert stages["eot_wait_ms"] == SEQUENTIAL_EOT_WAIT_MS
    assert stages["stt_full_window_ms"] > 0 and stages["stt_fitted_ms"] > 0
    assert stages["reply_ms"] > 0
    v2v = report["voice_to_voice_ms"]["p50"]
    assert report["ratio_to_sequential"] == round(v2v / report["sequential_ms"]["p50"], 3)
    assert report["ratio_to_sequential_fitted_stt"] == round(
        v2v / report["sequential_fitted_stt_ms"]["p50"], 3
    )
