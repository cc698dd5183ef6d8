"""`voxroom bench rooms`, end to end and small: a scripted room of 4 questions and 4
remarks, their peer-to-peer twins, and a ramp of one room.

The thresholds are loose (the script is short: one misheard name is a quarter of the
questions) but a broken engine fails them: an agent that answers everyone scores precision
0.5, one that answers nobody recall 0, captions all given to one person attribution 0.5.
The policy's decisions are checked whenever the answer came (on a machine starved by other
work a reply can take longer than the bench's 15 s window), and the ramp for what it saw of
the room, not for its real-time verdict, which belongs to the machine as much as the code."""

from __future__ import annotations

from typing import Any

import pytest

from voxroom.bench.rooms import RoomsSettings, run_rooms_bench

pytestmark = pytest.mark.slow
KEYS = {
    "speaker_attribution_accuracy",
    "addressed_precision",
    "addressed_recall",
    "v2v_ms",
    "p2p_v2v_ms",
    "rooms_held",
}


def decisions(turns: list[dict[str, Any]]) -> tuple[float, float]:
    """Precision and recall of "the agent answered, at any time" against "addressed"."""
    answered = [t for t in turns if t["answer_s"] is not None]
    addressed = [t for t in turns if t["addressed"]]
    hits = sum(1 for t in answered if t["addressed"])
    return hits / max(1, len(answered)), hits / max(1, len(addressed))


def test_the_rooms_bench_measures_a_working_room(veth: str, ice_on_veth: None) -> None:
    report = run_rooms_bench(veth, RoomsSettings.quick(max_rooms=1))

    assert KEYS <= report.keys()
    turns = report["turns"]
    assert report["counts"]["addressed_lines"] == report["counts"]["remark_lines"] == 4
    assert report["speaker_attribution_accuracy"] >= 0.8, turns
    precision, recall = decisions(turns)
    assert precision >= 0.7 and recall >= 0.6, turns
    assert report["counts"]["room_v2v_samples"] >= 1 and report["counts"]["p2p_v2v_samples"] >= 1
    for key in ("v2v_ms", "p2p_v2v_ms"):
        assert report[key]["p50"] > 200, report[key]  # heard after the question, not before
    [step] = report["ramp"]["steps"]
    assert step["questions"] >= 1
    for question in step["records"]:
        assert question["heard"] is not None and question["first_audio_ms"] is not None
        assert all(r is not None and r >= 0.9 for r in question["frame_ratio"].values()), question
    assert report["rooms_held"] in (0, 1)
    assert report["session_ids"]["room"] and report["session_ids"]["p2p"]
    assert report["server_errors"] == []
