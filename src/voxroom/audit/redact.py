"""PII redaction applied to every string of an event before it is hashed and stored.

What is redacted never reaches the disk, so the hash chain covers the redacted text and
verifies without the originals. Patterns run in this order: custom patterns first (so a
specific rule wins over the generic ones), then emails, card numbers, phone numbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field, field_validator

# Identifiers the store and the chain rely on; never rewritten.
_PROTECTED_KEYS = frozenset({"type", "session_id"})

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Groups of digits joined by single spaces or dashes; `_redact_cards` finds cards inside.
_CARD_RUN = re.compile(r"(?<![\w.])\d+(?:[ -]\d+)*(?![\w])")
_DIGITS = re.compile(r"\d+")
# How cards are written: one block, 4-4-4-4(-3), Amex 4-6-5, Diners 4-6-4.
_CARD_LAYOUTS = ([4, 6, 5], [4, 6, 4])
# A run of digits with the separators phone numbers use; `_is_phone` decides on the whole
# run, never on pieces of it (pieces of long numbers look like phones). So a phone number
# written right before another number (not a card: cards are replaced first) may be kept.
_PHONE = re.compile(r"(?<![\w.+])(?:\+|\(\+?)?\d[\d ().-]*\d(?![\w])")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DECIMAL = re.compile(r"\d+\.\d+")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")


class CustomPattern(BaseModel):
    name: str
    pattern: str  # Python regular expression
    replacement: str = "[REDACTED]"

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value


class RedactionPolicy(BaseModel):
    enabled: bool = True
    emails: bool = True
    phones: bool = True
    cards: bool = True
    email_token: str = "[EMAIL]"
    phone_token: str = "[PHONE]"
    card_token: str = "[CARD]"
    custom: list[CustomPattern] = Field(default_factory=list)


class Redactor:
    """A compiled `RedactionPolicy`. Pure and thread-safe: the writer runs it off the loop."""

    def __init__(self, policy: RedactionPolicy | None = None) -> None:
        policy = policy or RedactionPolicy()
        self._steps: list[Callable[[str], str]] = []
        if not policy.enabled:
            return
        for custom in policy.custom:
            self._steps.append(_substitute(re.compile(custom.pattern), custom.replacement))
        if policy.emails:
            self._steps.append(_substitute(_EMAIL, policy.email_token))
        if policy.cards:
            self._steps.append(_cards(policy.card_token))
        if policy.phones:
            self._steps.append(_substitute(_PHONE, policy.phone_token, _is_phone))

    def text(self, value: str) -> str:
        for step in self._steps:
            value = step(value)
        return value

    def event(self, data: dict[str, Any]) -> dict[str, Any]:
        """A copy of an event's JSON object with every string value redacted (not keys)."""
        if not self._steps:
            return data
        return {
            key: value if key in _PROTECTED_KEYS else self._value(value)
            for key, value in data.items()
        }

    def _value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self._value(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._value(item) for item in value]
        return value


def _substitute(
    pattern: re.Pattern[str], token: str, accept: Callable[[str], bool] | None = None
) -> Callable[[str], str]:
    def replace(match: re.Match[str]) -> str:
        found = match.group(0)
        return token if accept is None or accept(found) else found

    return lambda text: pattern.sub(replace, text)


def _cards(token: str) -> Callable[[str], str]:
    def replace(match: re.Match[str]) -> str:
        return _redact_cards(match.group(0), token)

    return lambda text: _CARD_RUN.sub(replace, text)


def _redact_cards(run: str, token: str) -> str:
    """Replace each card in a run of digit groups: from the left, the longest span of whole
    groups that is a card. A run can hold more than a card ("call 555 0101 4111 1111 …")."""
    groups = [match.span() for match in _DIGITS.finditer(run)]
    out: list[str] = []
    pos = i = 0
    while i < len(groups):
        digits, end = 0, None
        for j in range(i, len(groups)):
            digits += groups[j][1] - groups[j][0]
            if digits > 19:
                break
            if _is_card(run[groups[i][0] : groups[j][1]]):
                end = j
        if end is None:
            i += 1
            continue
        out += [run[pos : groups[i][0]], token]
        pos, i = groups[end][1], end + 1
    out.append(run[pos:])
    return "".join(out)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _is_card(candidate: str) -> bool:
    """13–19 digits in a card layout passing the Luhn check. The layout rule keeps a phone
    number and a card written one after the other from passing as one (Luhn alone lets one
    random number in ten through)."""
    groups = _DIGITS.findall(candidate)
    digits = "".join(groups)
    sizes = [len(group) for group in groups]
    layout = (
        len(sizes) == 1
        or sizes in _CARD_LAYOUTS
        or (all(size == 4 for size in sizes[:-1]) and 1 <= sizes[-1] <= 4)
    )
    # All zeros passes Luhn but is no card: a placeholder in test data and forms.
    return 13 <= len(digits) <= 19 and layout and digits.strip("0") != "" and luhn_valid(digits)


def _is_phone(candidate: str) -> bool:
    """7–15 digits (E.164's maximum) written as phone numbers are: with a leading `+` or `(`,
    or with separators, or as 10+ bare digits. Dates, decimals and IPv4 addresses are not;
    nor are shorter bare numbers (order numbers, amounts), which would drown transcripts."""
    digits = re.sub(r"\D", "", candidate)
    if not 7 <= len(digits) <= 15:
        return False
    if any(p.fullmatch(candidate) for p in (_ISO_DATE, _DECIMAL, _IPV4)):
        return False
    if candidate.startswith(("+", "(")):
        return True
    return len(digits) >= 10 or any(sep in candidate for sep in " -.")
