"""Streamed LLM text → speakable pieces, so TTS starts on the first sentence (or clause)."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*\s")
_CLAUSE_END = re.compile(r"[,;:—]\s")
_ABBREVIATIONS = {
    "mr.",
    "mrs.",
    "ms.",
    "dr.",
    "st.",
    "vs.",
    "etc.",
    "e.g.",
    "i.e.",
    "approx.",
}


class SentenceChunker:
    """Accumulates text deltas and releases complete sentences.

    The first piece of a reply may be a clause (ending in , ; : —) once it has at least
    `first_clause_words` words: the user hears the reply start sooner.
    """

    def __init__(self, first_clause_words: int = 5, min_words: int = 2) -> None:
        self._buffer = ""
        self._first_clause_words = first_clause_words
        self._min_words = min_words
        self._emitted = 0

    def push(self, delta: str) -> list[str]:
        self._buffer += delta
        pieces: list[str] = []
        while piece := self._take():
            pieces.append(piece)
        return pieces

    def flush(self) -> str | None:
        rest = _clean(self._buffer)
        self._buffer = ""
        if rest:
            self._emitted += 1
            return rest
        return None

    def _take(self) -> str | None:
        for match in _SENTENCE_END.finditer(self._buffer):
            candidate, after = self._buffer[: match.end()], self._buffer[match.end() :]
            if self._is_boundary(candidate, after):
                return self._cut(match.end())
        if self._emitted == 0:
            for match in _CLAUSE_END.finditer(self._buffer):
                if len(self._buffer[: match.end()].split()) >= self._first_clause_words:
                    return self._cut(match.end())
        return None

    def _is_boundary(self, candidate: str, after: str) -> bool:
        words = candidate.split()
        if len(words) < self._min_words:
            return False
        last = words[-1]
        is_initial = len(last) == 2 and last[0].isupper()  # "J. Smith"
        if last.lower() == "no.":  # "No. 3" is a number sign; "no. Sorry" ends a sentence
            return bool(after.strip()) and not after.lstrip()[0].isdigit()
        return last.lower() not in _ABBREVIATIONS and not is_initial

    def _cut(self, end: int) -> str:
        piece, self._buffer = _clean(self._buffer[:end]), self._buffer[end:]
        self._emitted += 1
        return piece


def _clean(text: str) -> str:
    # Markdown and stray symbols read badly aloud.
    text = re.sub(r"[*_#`]+", "", text)
    return " ".join(text.split())
