"""`voxroom bench capacity` end to end on a small ramp: real server, real models, real aiortc
calls (run in a private network namespace, as the other socket tests)."""

from __future__ import annotations

import pytest

from voxroom.bench.capacity import CapacitySettings, run_capacity_bench

pytestmark = pytest.mark.slow


def test_two_talking_sessions_are_measured_and_reported() -> None:
    # A loose criterion, so that a busy test machine still ramps to the second level: this
    # checks the measurement, not the machine.
    settings = CapacitySettings(
        levels=(1, 2), turns_per_level=1, warmup_turns=1, max_level_s=240, max_p90_ms=60_000
    )
    report = run_capacity_bench(settings)
    assert report["talking_sessions"] == 2, report["levels"]
    assert set(report["voice_to_voice_ms"]) == {"p50", "p90"}
    assert 0 < report["voice_to_voice_ms"]["p50"] <= report["voice_to_voice_ms"]["p90"]
    # Measured on the server: at least one generation per decode step, one transcription
    # per call (batching is off by default).
    assert report["llm_parallel"]["mean"] >= 1.0
    assert report["stt_batch_size"]["mean"] == 1.0
    assert [level["sessions"] for level in report["levels"]] == [1, 2]
    assert all(level["turns"] >= level["sessions"] for level in report["levels"])
    assert all(level["server_cpu_s_per_turn"] > 0 for level in report["levels"])
    assert report["server_errors"] == []
