"""What a knowledge folder says: its documents (Markdown, text, PDF) split into passages.

A passage is a few sentences under one heading, small enough for a sentence-embedding model
(all-MiniLM-L6-v2 reads 256 word pieces; about `MAX_WORDS` words stay well inside that) and
big enough to answer a question on its own. Each passage keeps its document's title and its
section heading, which are embedded with it: "Returns — Refunds: …" matches a question about
refunds even when the passage itself never says the word.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SUFFIXES = frozenset((".md", ".markdown", ".txt", ".pdf"))
MAX_WORDS = 90  # per passage
HEADING_MAX_WORDS = 8  # plain text and PDF: a short line on its own may be a heading
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


class DocumentError(ValueError):
    """A file that cannot be read as a document (a broken PDF, a binary file)."""


@dataclass(frozen=True, slots=True)
class Passage:
    document: str  # path relative to the knowledge folder, with "/" separators
    title: str  # the document's title: its first heading, else its file name
    heading: str  # the section the passage is in ("" before the first heading)
    text: str

    @property
    def embedded_text(self) -> str:
        """What is embedded: the title and section give the passage its context."""
        where = " — ".join(part for part in (self.title, self.heading) if part)
        return f"{where}: {self.text}" if where else self.text


def documents(folder: Path) -> Iterator[Path]:
    """The documents in `folder` and below, in a stable order; hidden files are skipped."""
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.suffix.lower() in SUFFIXES:
            yield path


def read_passages(path: Path, folder: Path) -> list[Passage]:
    """The passages of one document. DocumentError: it cannot be read."""
    name = path.relative_to(folder).as_posix()
    text = _pdf_text(path) if path.suffix.lower() == ".pdf" else _plain_text(path)
    markdown = path.suffix.lower() in (".md", ".markdown")
    sections = _sections(text) if markdown else _plain_sections(text)
    title = next((h for h, _ in sections if h), "") or _title_from_name(path)
    if sections and sections[0][0] == title:
        sections[0] = ("", sections[0][1])  # the title heading names the document, not a section
    passages: list[Passage] = []
    for heading, body in sections:
        for chunk in _chunks(body):
            passages.append(Passage(name, title, heading, chunk))
    return passages


def _plain_text(path: Path) -> str:
    data = path.read_bytes()
    if b"\x00" in data[:4096]:
        raise DocumentError(f"{path.name} is not a text file")
    return data.decode("utf-8", errors="replace")


def _pdf_text(path: Path) -> str:
    try:
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError
    except ImportError as exc:  # the `knowledge` extra is not installed
        raise DocumentError("reading PDF needs pypdf: pip install 'voxroom[semantic]'") from exc
    try:
        reader = PdfReader(path)
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, OSError, ValueError) as exc:
        raise DocumentError(f"{path.name}: not a readable PDF ({exc})") from exc
    return "\n\n".join(pages)


def _title_from_name(path: Path) -> str:
    return path.stem.replace("_", " ").replace("-", " ").strip().capitalize()


def _sections(markdown: str) -> list[tuple[str, str]]:
    """(heading, body) pairs in order; the text before the first heading has heading ""."""
    sections: list[tuple[str, list[str]]] = [("", [])]
    for line in markdown.splitlines():
        if match := _HEADING.match(line):
            sections.append((match.group(2).strip(), []))
        else:
            sections[-1][1].append(line)
    return [(h, "\n".join(lines)) for h, lines in sections if h or "".join(lines).strip()]


def _plain_sections(text: str) -> list[tuple[str, str]]:
    """Sections of plain text (and PDF text, whose paragraphs are not marked): a short line
    without final punctuation that starts a paragraph ("Damaged equipment") is a heading."""
    sections: list[tuple[str, list[str]]] = [("", [])]
    previous = ""
    for raw in text.splitlines():
        line = raw.strip()
        starts_paragraph = not previous or previous[-1] in ".!?:"
        if line and starts_paragraph and _looks_like_heading(line):
            sections.append((line, []))
            previous = line + ":"  # what follows a heading starts a paragraph
            continue
        if line and starts_paragraph and previous:
            sections[-1][1].append("")  # keep paragraphs apart
        sections[-1][1].append(line)
        previous = line
    return [(h, "\n".join(lines)) for h, lines in sections if h or "".join(lines).strip()]


def _looks_like_heading(line: str) -> bool:
    return len(line.split()) <= HEADING_MAX_WORDS and line[0].isupper() and line[-1] not in ".!?,;:"


def _paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, each on one line; Markdown list markers and
    emphasis dropped (they mean nothing to an embedding)."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        lines = [re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+", "", line) for line in block.splitlines()]
        joined = " ".join(line.strip() for line in lines if line.strip())
        joined = re.sub(r"[*_`]{1,3}(\S[^*_`]*?)[*_`]{1,3}", r"\1", joined)
        if joined:
            paragraphs.append(joined)
    return paragraphs


def _chunks(text: str) -> Iterator[str]:
    """Paragraphs packed into passages of at most MAX_WORDS words; a longer paragraph is cut
    between sentences."""
    pieces: list[str] = []
    for paragraph in _paragraphs(text):
        if len(paragraph.split()) <= MAX_WORDS:
            pieces.append(paragraph)
        else:
            pieces += _SENTENCE_END.split(paragraph)
    current: list[str] = []
    words = 0
    for piece in pieces:
        count = len(piece.split())
        if current and words + count > MAX_WORDS:
            yield " ".join(current)
            current, words = [], 0
        current.append(piece)
        words += count
    if current:
        yield " ".join(current)
