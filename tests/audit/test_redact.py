"""Redaction: each pattern, the Luhn check, custom patterns, switches, whole events."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from voxroom.audit import events as ev
from voxroom.audit.redact import CustomPattern, RedactionPolicy, Redactor, luhn_valid

redact = Redactor().text


@pytest.mark.parametrize(
    "text",
    ["bob@example.com", "first.last+tag@mail.example.co.uk", "X_Y-z%1@sub-domain.io"],
)
def test_emails(text: str) -> None:
    assert redact(f"write to {text}, thanks") == "write to [EMAIL], thanks"


@pytest.mark.parametrize(
    "text",
    [
        "+1 555 010 1234",
        "+44 20 7946 0958",
        "(555) 010-1234",
        "555-010-1234",
        "555.010.1234",
        "5550101234",
        "+33612345678",
        "010 1234",
    ],
)
def test_phone_numbers(text: str) -> None:
    assert redact(f"call {text}.") == "call [PHONE]."


@pytest.mark.parametrize(
    "text",
    ["2024-05-06", "3.14159265", "192.168.1.100", "12345", "1234567", "1,234,567", "10:30"],
)
def test_numbers_that_are_not_phones(text: str) -> None:
    assert redact(f"it is {text} now") == f"it is {text} now"


@pytest.mark.parametrize(
    "card",
    ["4111 1111 1111 1111", "4111-1111-1111-1111", "5555555555554444", "378282246310005"],
)
def test_luhn_valid_cards(card: str) -> None:
    assert redact(f"my card is {card}, expiry soon") == "my card is [CARD], expiry soon"


def test_random_non_luhn_number_is_kept() -> None:
    rng = random.Random(7)
    while True:
        number = "".join(rng.choice("0123456789") for _ in range(16))
        if number[0] != "0" and not luhn_valid(number):
            break
    assert redact(f"order {number}") == f"order {number}"
    spaced = " ".join(number[i : i + 4] for i in range(0, 16, 4))
    assert redact(f"order {spaced}") == f"order {spaced}"  # not piecewise a phone either


def test_luhn() -> None:
    assert luhn_valid("4111111111111111") and luhn_valid("79927398713")
    assert not luhn_valid("4111111111111112") and not luhn_valid("79927398710")


def test_custom_patterns_run_first_with_their_token() -> None:
    policy = RedactionPolicy(
        custom=[CustomPattern(name="account", pattern=r"ACCT-\d{10}", replacement="[ACCOUNT]")]
    )
    assert Redactor(policy).text("ACCT-5550101234 or 555-010-1234") == "[ACCOUNT] or [PHONE]"


def test_custom_pattern_must_compile() -> None:
    with pytest.raises(ValidationError, match="regular expression"):
        CustomPattern(name="bad", pattern="(unclosed")


def test_card_written_right_after_a_phone_number() -> None:
    assert redact("555-010-1234 4111 1111 1111 1111") == "[PHONE] [CARD]"


def test_switches_and_tokens() -> None:
    text = "bob@example.com, 555-010-1234, 4111 1111 1111 1111"
    assert Redactor(RedactionPolicy(enabled=False)).text(text) == text
    only_cards = RedactionPolicy(emails=False, phones=False, card_token="<card>")
    assert Redactor(only_cards).text(text) == "bob@example.com, 555-010-1234, <card>"
    no_cards = RedactionPolicy(cards=False, email_token="<e>", phone_token="<p>")
    assert Redactor(no_cards).text(text) == "<e>, <p>, 4111 1111 1111 1111"


def test_every_string_of_an_event_but_its_identifiers() -> None:
    event = ev.LLMRequested(
        turn_id=1,
        provider="openai-compatible",
        model="m",
        messages=[{"role": "user", "content": "I am bob@example.com", "parts": ["555-010-1234"]}],
        parameters={"user": "a@b.io", "n": 5550101234},
    )
    event.session_id = "bob@example.com"  # identifiers are never rewritten
    data = Redactor().event(event.model_dump(mode="json"))
    assert data["messages"] == [{"role": "user", "content": "I am [EMAIL]", "parts": ["[PHONE]"]}]
    assert data["parameters"] == {"user": "[EMAIL]", "n": 5550101234}  # numbers stay numbers
    assert data["session_id"] == "bob@example.com" and data["type"] == "llm_request"
