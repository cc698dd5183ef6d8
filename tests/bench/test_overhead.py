"""bench/overhead.py: the report's shape and a sane voxroom measurement (no timed thresholds)."""

from __future__ import annotations

from typing import Any

import pytest

from voxroom.bench.anchors.turnscript import TurnProbe, TurnScript, summarize
from voxroom.bench.overhead import run_overhead_bench


def test_voxroom_part_measures_every_turn() -> None:
    report = run_overhead_bench(turns=3, anchors=False)

    voxroom = report["voxroom"]
    assert voxroom["turns"] == 3 and voxroom["missed"] == 0
    assert 0 < voxroom["min_ms"] <= voxroom["p50_ms"] <= voxroom["p90_ms"] <= voxroom["max_ms"]
    assert voxroom["max_ms"] < 1000
    assert not voxroom.get("audio_before_decision")
    # The decision came after the end-of-turn silence, not during the speech.
    assert voxroom["decided_after_speech_p50_ms"] > 100
    assert set(voxroom["engine_breakdown_p50_ms"]) <= {
        "stt_ms",
        "first_sentence_ms",
        "tts_first_chunk_ms",
    }
    assert report["ratios"] == {}
    assert report["target"]["met"] is None  # no anchor ran
    assert report["script"]["turns"] == 3


def test_probe_times_only_sound_after_the_decision() -> None:
    probe = TurnProbe()
    probe.start_turn()
    probe.decided()  # before the user stopped: not this turn's decision
    assert probe.current.decided is None
    probe.current.speech_end = 1.0
    probe.written(b"\x01\x00")  # reply audio before the decision is flagged, not timed
    assert probe.current.audio_before_decision and not probe.replied
    probe.decided()
    probe.written(b"\x00\x00\x00\x00")  # filler silence does not count
    assert not probe.replied
    probe.written(b"\x05\x00")
    assert probe.replied
    assert probe.current.as_dict()["overhead_ms"] >= 0


def test_summary_statistics() -> None:
    records: list[dict[str, Any]] = [
        {"overhead_ms": v, "decided_after_speech_ms": 500.0} for v in (1.0, 2.0, 3.0, 4.0)
    ]
    records.append({"overhead_ms": None, "decided_after_speech_ms": None})
    summary = summarize(records)
    assert summary["turns"] == 4 and summary["missed"] == 1
    assert summary["p50_ms"] == 2.5 and summary["p90_ms"] == 3.7
    assert summary["min_ms"] == 1.0 and summary["max_ms"] == 4.0


def test_script_round_trips_as_json() -> None:
    script = TurnScript(turns=4, speech_s=0.6)
    assert TurnScript.from_json(script.to_json()) == script
    assert script.is_voiced(script.speech_frame()) and not script.is_voiced(script.silence_frame())


@pytest.mark.anchors
def test_anchors_install_and_report() -> None:
    report = run_overhead_bench(turns=3)
    for key in ("pipecat", "pipecat_lean", "livekit", "livekit_no_preemptive"):
        row = report[key]
        assert "error" not in row, row.get("error")
        assert row["turns"] == 3 and 0 < row["p50_ms"] < 1000
        assert key in report["ratios"]
    assert report["target"]["better_anchor"] in ("pipecat", "livekit")
