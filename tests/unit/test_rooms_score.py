"""bench/rooms_score.py and rooms_script.py: scoring `voxroom bench rooms` from the messages
a participant received, and the script's ground truth."""

from __future__ import annotations

from typing import Any

import pytest

from voxroom.bench.rooms_score import (
    SpokenLine,
    assign_captions,
    attribution_accuracy,
    final_user_captions,
    judge_step,
    outcomes,
    precision_recall,
    rooms_held,
    speech_frame_ratio,
)
from voxroom.bench.rooms_script import Person, build_script

PEOPLE = [Person("alice", "Alice", "en-us"), Person("bob", "Bob", "en-gb")]


def user(turn_id: int, who: str, text: str = "words", final: bool = True) -> dict[str, Any]:
    return {
        "type": "transcript",
        "role": "user",
        "final": final,
        "turn_id": turn_id,
        "participant": who,
        "text": text,
    }


def agent(turn_id: int, text: str = "An answer.") -> dict[str, Any]:
    return {"type": "transcript", "role": "agent", "final": False, "turn_id": turn_id, "text": text}


def line(index: int, speaker: str, addressed: bool, start: float) -> SpokenLine:
    return SpokenLine(index, speaker, f"line {index}", addressed, start, start + 2.0)


LINES = [
    line(0, "alice", True, 10.0),
    line(1, "bob", False, 30.0),
    line(2, "bob", True, 50.0),
    line(3, "alice", False, 70.0),
]


def test_a_turns_last_final_caption_counts_once() -> None:
    messages = [
        (12.0, user(1, "alice", "what is", final=False)),
        (12.5, user(1, "alice", "what is the")),
        (14.0, user(1, "alice", "what is the capital")),  # merged: replaces the text
        (33.0, user(2, "bob")),
    ]
    captions = final_user_captions(messages)
    assert [(c.turn_id, c.text, c.arrived) for c in captions] == [
        (1, "what is the capital", 12.5),
        (2, "words", 33.0),
    ]


def test_captions_belong_to_the_line_spoken_before_them() -> None:
    messages = [(5.0, user(9, "alice")), (12.0, user(1, "alice")), (31.0, user(2, "bob"))]
    owned = assign_captions(LINES, final_user_captions(messages))
    assert [c.turn_id for c in owned[0]] == [1]
    assert [c.turn_id for c in owned[1]] == [2]
    assert owned[2] == [] and owned[3] == []  # the caption from before the script: nobody's


def test_perfect_room() -> None:
    messages = [
        (12.5, user(1, "alice")),
        (13.5, agent(1)),
        (32.5, user(2, "bob")),
        (52.5, user(3, "bob")),
        (53.4, agent(3)),
        (72.5, user(4, "alice")),
    ]
    results = outcomes(LINES, messages)
    assert [r.answered for r in results] == [True, False, True, False]
    assert attribution_accuracy(results) == 1.0
    assert precision_recall(results) == (1.0, 1.0)


def test_misattributed_captions_and_wrong_answers_are_counted() -> None:
    messages = [
        (12.5, user(1, "bob")),  # alice spoke: attributed to bob
        (13.5, agent(1)),
        (32.5, user(2, "bob")),
        (33.5, agent(2)),  # a remark answered: a false positive
        (52.5, user(3, "bob")),  # a question not answered: a miss
        (72.5, user(4, "alice")),
        (73.0, user(5, "alice")),  # the remark split in two turns: two captions
    ]
    results = outcomes(LINES, messages)
    assert attribution_accuracy(results) == pytest.approx(4 / 5)
    assert precision_recall(results) == (0.5, 0.5)


def test_an_answer_counts_only_within_the_window_and_with_text() -> None:
    messages = [
        (12.5, user(1, "alice")),
        (13.0, agent(1, text="")),  # an empty caption: nothing was said
        (28.0, agent(1)),  # 15.5 s after the caption: too late
        (52.5, user(3, "bob")),
        (53.0, agent(99)),  # another turn's answer
    ]
    results = outcomes(LINES, messages, within_s=15.0)
    assert not any(r.answered for r in results)
    assert results[0].answer_s == pytest.approx(15.5)  # answered late: kept for the report
    assert results[2].answer_s is None


def test_nothing_heard_or_answered_scores_zero_not_a_vacuous_one() -> None:
    results = outcomes(LINES, [])
    assert attribution_accuracy(results) == 0.0
    assert precision_recall(results) == (0.0, 0.0)


def test_frame_ratio_counts_frames_from_first_to_last_voiced() -> None:
    times = [1.0 + 0.02 * i for i in range(100)]
    levels = [-20.0] * 100
    assert speech_frame_ratio(times, levels, 0.0, 10.0) == 1.0
    gappy = times[:40] + times[60:]  # 20 frames of the reply never arrived
    assert speech_frame_ratio(gappy, [-20.0] * 80, 0.0, 10.0) == pytest.approx(0.8)
    quiet = [-90.0] * 100
    assert speech_frame_ratio(times, quiet, 0.0, 10.0) is None
    edges = [-90.0] * 10 + [-20.0] * 80 + [-90.0] * 10  # silence around speech is not counted
    assert speech_frame_ratio(times, edges, 0.0, 10.0) == 1.0


def ramp_question(room: int, **kw: Any) -> dict[str, Any]:
    return {
        "room": room,
        "text": "Nova, what is the capital of Italy?",
        "heard": "Nova, what is the capital of Italy?",
        "names_agent": True,
        "first_audio_ms": 1200.0,
        "frame_ratio": {"alice": 1.0, "bob": 0.99},
        **kw,
    }


def test_a_step_holds_when_every_stream_is_real_time() -> None:
    step = judge_step(2, [ramp_question(0), ramp_question(1)], backlog_frames=3, errors=[])
    assert step["holds"] and step["holds_strict"] and step["reasons"] == []


@pytest.mark.parametrize(
    ("question", "backlog", "reason"),
    [
        (ramp_question(1, heard=None), 0, "no caption"),
        (ramp_question(1, first_audio_ms=None), 0, "no answer"),
        (ramp_question(1, first_audio_ms=10500.0), 0, "no answer"),
        (ramp_question(1, frame_ratio={"alice": 0.85, "bob": 1.0}), 0, "85 % of agent frames"),
        (ramp_question(1), 11, "backlog 11 frames"),
    ],
)
def test_a_step_fails_on_any_stream_out_of_real_time(
    question: dict[str, Any], backlog: int, reason: str
) -> None:
    step = judge_step(2, [ramp_question(0), question], backlog_frames=backlog, errors=[])
    assert not step["holds"]
    assert any(reason in r for r in step["reasons"]), step["reasons"]


def test_a_misheard_name_is_not_a_real_time_failure() -> None:
    misheard = ramp_question(1, heard="No, what is the capital?", names_agent=False)
    step = judge_step(2, [ramp_question(0), {**misheard, "first_audio_ms": None}], 0, [])
    assert step["holds"] and step["misheard"] == 1


def test_a_room_that_asked_nothing_or_failed_to_join_fails_the_step() -> None:
    assert "1 rooms asked nothing" in judge_step(2, [ramp_question(0)], 0, [])["reasons"]
    assert not judge_step(2, [ramp_question(0)], 0, ["room 1: refused"])["holds"]


def test_rooms_held_is_the_last_step_of_an_unbroken_run() -> None:
    steps = [
        {"rooms": 1, "holds": True, "holds_strict": True},
        {"rooms": 2, "holds": True, "holds_strict": False},
        {"rooms": 3, "holds": False, "holds_strict": False},
    ]
    assert rooms_held(steps) == 2
    assert rooms_held(steps, "holds_strict") == 1
    assert rooms_held([]) == 0


def test_the_script_mixes_questions_and_remarks_for_both_people() -> None:
    script = build_script("Nova", PEOPLE, per_kind=12)
    questions = [s for s in script if s.addressed]
    remarks = [s for s in script if not s.addressed]
    assert len(questions) == len(remarks) == 12
    assert all("Nova" in q.text and q.p2p_text and "Nova" not in q.p2p_text for q in questions)
    assert not any("nova" in r.text.lower() or "assistant" in r.text.lower() for r in remarks)
    for kind in (questions, remarks):
        assert {s.speaker for s in kind} == {"alice", "bob"}
    for remark in remarks:  # a remark names the other person, never the speaker
        speaker = next(p.name for p in PEOPLE if p.identity == remark.speaker)
        assert speaker not in remark.text
    assert [s.index for s in script] == list(range(len(script)))
