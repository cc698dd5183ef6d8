"""Words as the engine compares them: lowercase, punctuation gone, numbers as digits.

"Twenty-four!" and "24", "at seven PM" and "at 7 pm" say the same: the checks before
speaking (a repeated reply, a number the tool did not return) and before a tool with side
effects runs (did the user say it?) compare what was said, not how it was spelled.
"""

from __future__ import annotations

import re

_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_NUMBER_WORDS = {word: n for n, word in enumerate(_UNITS)} | {
    word: 20 + 10 * n for n, word in enumerate(_TENS)
}
_TOKEN = re.compile(r"[a-z0-9]+")
# Words that carry no content of their own ("the airport" and "airport" name one place).
FILLER = frozenset("a an the to at for of and in on is your you i it be by my me".split())


def _numbers_as_digits(words: list[str]) -> list[str]:
    """ "three hundred and sixty six" → "366", "twenty four" → "24" (below a million)."""
    out: list[str] = []
    thousands: int | None = None  # None: not inside a number
    group = 0  # the part below a thousand

    def joins(number: int) -> bool:  # "three hundred" + "twenty", "twenty" + "four"
        tens = group % 100
        return (
            (group == 0 and bool(thousands))
            or (group >= 100 and tens == 0 and number < 100)
            or (tens >= 20 and tens % 10 == 0 and number < 10)
        )

    def close() -> None:
        nonlocal thousands, group
        if thousands is not None:
            out.append(str(thousands + group))
        thousands, group = None, 0

    for index, word in enumerate(words):
        following = words[index + 1] if index + 1 < len(words) else ""
        if word in _NUMBER_WORDS:
            number = _NUMBER_WORDS[word]
            if thousands is not None and joins(number):
                group += number
            else:
                close()
                thousands, group = 0, number
        elif word == "hundred" and thousands is None and out[-1:] == ["a"]:  # "a hundred"
            out.pop()
            thousands, group = 0, 100
        elif word == "hundred" and thousands is not None and group < 10:
            group = max(group, 1) * 100
        elif word == "thousand" and thousands is not None and not thousands:
            thousands, group = max(group, 1) * 1000, 0
        elif word == "and" and thousands is not None and following in _NUMBER_WORDS:
            continue
        else:
            close()
            out.append(word)
    close()
    return out


def words(text: str) -> list[str]:
    """Lowercase words, number words as digits ("Twenty-four!" → ["24"])."""
    return _numbers_as_digits(_TOKEN.findall(text.lower().replace("-", " ")))


def normalize(text: str) -> str:
    """`words` joined by one space: equal for two texts that say the same words."""
    return " ".join(words(text))


def numbers(text: str) -> set[str]:
    """The numbers said, as digits ("at seven thirty" → {"7", "30"})."""
    return {word for word in words(text) if word.isdigit()}
