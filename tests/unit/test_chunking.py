"""agent/chunking.py: streamed LLM text → speakable sentences."""

from __future__ import annotations

import re

from voxroom.agent.chunking import SentenceChunker


def stream(text: str, chunker: SentenceChunker | None = None) -> tuple[list[str], str | None]:
    """Feed `text` token by token (as an LLM would) and return (pieces, flushed rest)."""
    chunker = chunker or SentenceChunker()
    pieces: list[str] = []
    for token in re.findall(r"\s*\S+", text):  # " word" tokens, like BPE output
        pieces += chunker.push(token)
    return pieces, chunker.flush()


def test_token_stream_becomes_sentences() -> None:
    pieces, rest = stream("Hello there. How are you today? I am fine!")

    assert pieces == ["Hello there.", "How are you today?"]
    assert rest == "I am fine!"


def test_sentence_is_released_as_soon_as_the_next_token_starts() -> None:
    chunker = SentenceChunker()

    assert chunker.push("It is sunny") == []
    assert chunker.push(" today.") == []  # could still be "today.)" or an abbreviation
    assert chunker.push(" Tomorrow") == ["It is sunny today."]


def test_many_sentences_in_one_delta() -> None:
    chunker = SentenceChunker()

    assert chunker.push("One two. Three four! Five six? Seven") == [
        "One two.",
        "Three four!",
        "Five six?",
    ]
    assert chunker.flush() == "Seven"


def test_first_clause_is_split_once_it_has_five_words() -> None:
    pieces, rest = stream("Well, I think that is right, because it is written there.")

    assert pieces == ["Well, I think that is right,"]
    assert rest == "because it is written there."


def test_short_first_clause_is_not_split() -> None:
    pieces, rest = stream("Yes, it is. Sure")

    assert pieces == ["Yes, it is."]
    assert rest == "Sure"


def test_only_the_first_piece_may_be_a_clause() -> None:
    pieces, rest = stream(
        "The answer is simple. After a long while of waiting, the bus came, and we left."
    )

    assert pieces == ["The answer is simple."]
    assert rest == "After a long while of waiting, the bus came, and we left."


def test_em_dash_and_semicolon_end_a_first_clause() -> None:
    assert stream("This is a very long thought — and more")[0] == ["This is a very long thought —"]
    assert stream("We went to the shop; it was closed")[0] == ["We went to the shop;"]


def test_abbreviations_do_not_end_sentences() -> None:
    pieces, rest = stream("I saw Dr. Smith today. Eat fruit, e.g. apples and pears. Done")

    assert pieces == ["I saw Dr. Smith today.", "Eat fruit, e.g. apples and pears."]
    assert rest == "Done"


def test_the_word_no_ends_a_sentence() -> None:
    pieces, _ = stream("The answer is no. Sorry about that. Bye")

    assert pieces == ["The answer is no.", "Sorry about that."]


def test_number_abbreviation_before_a_digit_is_not_split() -> None:
    pieces, _ = stream("Call me at No. 5 Main street. ok")

    assert pieces == ["Call me at No. 5 Main street."]


def test_initials_do_not_end_sentences() -> None:
    pieces, _ = stream("The author is J. Smith from Leeds. Next")

    assert pieces == ["The author is J. Smith from Leeds."]


def test_decimals_are_not_split() -> None:
    chunker = SentenceChunker()
    pieces = chunker.push("It costs 3")
    pieces += chunker.push(".")
    pieces += chunker.push("5 dollars")
    pieces += chunker.push(" today. And")

    assert pieces == ["It costs 3.5 dollars today."]


def test_single_word_sentence_waits_for_more_words() -> None:
    pieces, rest = stream("Yes. I agree with you. Good")

    assert pieces == ["Yes. I agree with you."]
    assert rest == "Good"


def test_closing_quotes_stay_with_their_sentence() -> None:
    pieces, rest = stream('He said "hello there." Then he left.')

    assert pieces == ['He said "hello there."']
    assert rest == "Then he left."


def test_flush_returns_the_rest_once_then_none() -> None:
    chunker = SentenceChunker()
    chunker.push("no full stop here")

    assert chunker.flush() == "no full stop here"
    assert chunker.flush() is None


def test_flush_of_whitespace_or_markdown_only_is_none() -> None:
    chunker = SentenceChunker()
    chunker.push("  \n ** ")

    assert chunker.flush() is None


def test_markdown_and_extra_whitespace_are_stripped() -> None:
    pieces, rest = stream("## **Bold** move.\n\n Use `pip   install` _now_ please")

    assert pieces == ["Bold move."]
    assert rest == "Use pip install now please"
