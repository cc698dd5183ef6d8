"""How `voxroom bench answers` scores replies: right answers, repeats, tool calls."""

from __future__ import annotations

from voxroom.agent.words import normalize, numbers
from voxroom.bench.answers_score import (
    ToolOutcome,
    answer_matches,
    is_right,
    repeat_rate,
    tool_scores,
)
from voxroom.bench.answers_set import HOLDOUT, QUESTIONS, REMARKS, TOOL_TURNS, TUNING


def test_number_words_are_compared_as_digits() -> None:
    assert normalize("Twenty-four!") == "24"
    assert normalize("There are three hundred and sixty six days.") == "there are 366 days"
    assert normalize("About a hundred cents") == "about 100 cents"
    assert normalize("seven, eight") == "7 8"
    assert numbers("at seven thirty pm, gate 12") == {"7", "30", "12"}


def test_a_right_reply_contains_an_accepted_answer_as_whole_words() -> None:
    assert is_right("The capital of France is Paris.", ["paris"])
    assert is_right("A week has seven days.", ["7"])
    assert is_right("Kittens!", ["kitten"])  # a plural "s" is allowed
    assert is_right("It is in New York City.", ["new york"])
    assert not is_right("Parisians love it.", ["paris"])
    assert not is_right("A week has seventy days.", ["7"])
    assert not is_right("", ["paris"])


def test_repeat_rate_counts_replies_said_before_in_the_session() -> None:
    assert repeat_rate(["It's a good place.", "it's a GOOD place!", "Rome is lovely."]) == 1 / 3
    assert repeat_rate(["A.", "B.", "C."]) == 0.0
    assert repeat_rate([]) == 0.0


def test_answer_matches_the_tool_result_when_its_numbers_are_the_results() -> None:
    result = "Taxi booked for 7 pm to the airport, confirmation T-107."
    assert answer_matches("Your taxi to the airport is booked for seven pm.", result)
    assert not answer_matches("Your taxi is booked for 9 pm.", result)  # a wrong time
    assert not answer_matches("Sure thing.", result)  # says nothing of it
    assert not answer_matches("", result)


def test_tool_scores() -> None:
    outcomes = [
        ToolOutcome("book_taxi", ("book_taxi",), ("Taxi booked for 7 pm.",), "Booked for 7 pm."),
        ToolOutcome("book_taxi", (), (), "Sorry?"),  # missed
        ToolOutcome(None, ("book_taxi",), ("Taxi booked for 9 am.",), "Booked, 9 am."),  # unasked
        ToolOutcome(None, (), (), "Breakfast is at 7."),
    ]
    scores = tool_scores(outcomes)
    assert scores.precision == 0.5 and scores.recall == 0.5
    assert scores.answer_matches_result == 1.0
    assert (scores.calls, scores.asked, scores.answered_with_result) == (2, 2, 2)
    assert tool_scores([]).precision == 1.0


def test_the_set_is_big_enough_split_in_halves_and_never_echoes_its_answers() -> None:
    assert len(QUESTIONS) >= 100 and len({q.text for q in QUESTIONS}) == len(QUESTIONS)
    assert len(TUNING) + len(HOLDOUT) == len(QUESTIONS)
    assert not set(TUNING) & set(HOLDOUT)
    for question in QUESTIONS:
        assert not is_right(question.text, question.accept), question.text
    assert len(REMARKS) >= 60 and len(set(REMARKS)) == len(REMARKS)
    assert any(t.tool for t in TOOL_TURNS) and any(t.tool is None for t in TOOL_TURNS)
