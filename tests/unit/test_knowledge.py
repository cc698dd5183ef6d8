"""Knowledge folders: documents into passages, and a vector index that persists and follows
the folder as files change (a stand-in encoder; the real model in tests/integration)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.knowledge.encoders import WordHashEncoder
from tests.knowledge.pdf import text_pdf
from voxroom.knowledge import KnowledgeBase
from voxroom.knowledge.documents import documents, read_passages
from voxroom.knowledge.index import KnowledgeIndex

BILLING = """# Billing

Intro line before any section.

## Due dates
The bill is due on the fifteenth.

## Refunds
A **duplicate** payment is refunded within five days.
- Card refunds take ten days.
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "billing.md").write_text(BILLING)
    (docs / "sub" / "router.txt").write_text(
        "Router help\n\nHold the reset button for ten seconds.\n\nLights\n\nRed means no signal."
    )
    (docs / "returns.pdf").write_bytes(
        text_pdf([["Equipment returns", "Send the router back within fourteen days."]])
    )
    (docs / ".hidden.md").write_text("# Secret\nnot indexed")
    (docs / "image.png").write_bytes(b"\x89PNG")
    return docs


def test_markdown_text_and_pdf_become_passages_with_titles_and_sections(folder: Path) -> None:
    assert [p.relative_to(folder).as_posix() for p in documents(folder)] == [
        "billing.md",
        "returns.pdf",
        "sub/router.txt",
    ]
    billing = read_passages(folder / "billing.md", folder)
    assert [(p.title, p.heading) for p in billing] == [
        ("Billing", ""),
        ("Billing", "Due dates"),
        ("Billing", "Refunds"),
    ]
    assert billing[2].text == (
        "A duplicate payment is refunded within five days. Card refunds take ten days."
    )
    assert billing[2].embedded_text.startswith("Billing — Refunds: A duplicate")
    router = read_passages(folder / "sub" / "router.txt", folder)
    assert [(p.document, p.title, p.heading) for p in router] == [
        ("sub/router.txt", "Router help", ""),
        ("sub/router.txt", "Router help", "Lights"),
    ]
    (pdf,) = read_passages(folder / "returns.pdf", folder)
    assert (pdf.title, pdf.text) == (
        "Equipment returns",
        "Send the router back within fourteen days.",
    )


def test_a_long_section_is_split_between_sentences(tmp_path: Path) -> None:
    sentence = "The router keeps every setting you saved in the app for later use. "
    (tmp_path / "long.md").write_text("# Long\n\n" + sentence * 20)
    passages = read_passages(tmp_path / "long.md", tmp_path)
    assert len(passages) > 1
    assert all(len(p.text.split()) <= 90 for p in passages)
    assert all(p.text.endswith("later use.") for p in passages)


def test_the_index_persists_and_follows_the_folder(folder: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    encoder = WordHashEncoder()
    index = KnowledgeIndex(folder, store, encoder)
    first = index.sync()
    assert sorted(first.added) == ["billing.md", "returns.pdf", "sub/router.txt"]
    assert first.passages == len(index) == 6
    hits = index.search(encoder.encode(["duplicate payment refunded"])[0], 2)
    assert hits[0].passage.heading == "Refunds" and hits[0].score > hits[1].score
    index.close()

    # Reopened: nothing is embedded again.
    encoder = WordHashEncoder()
    index = KnowledgeIndex(folder, store, encoder)
    assert index.sync().added == [] and len(index) == 6 and encoder.encoded == []

    # A touched file is not read again; a changed one is, and only it.
    os.utime(folder / "billing.md", ns=(1, 1))
    (folder / "sub" / "router.txt").write_text("Router help\n\nUnplug it for thirty seconds.")
    report = index.sync()
    assert report.added == ["sub/router.txt"] and len(index) == 5
    assert encoder.encoded == ["Router help: Unplug it for thirty seconds."]
    top = index.search(encoder.encode(["unplug thirty seconds"])[0], 1)[0]
    assert top.passage.text == "Unplug it for thirty seconds."

    # A removed file's passages go; an unreadable one is reported, not fatal.
    (folder / "returns.pdf").unlink()
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    report = index.sync()
    assert report.removed == ["returns.pdf"] and "broken.pdf" in report.failed
    assert len(index) == 4
    assert all(
        h.passage.document != "returns.pdf" for h in index.search(encoder.encode(["router"])[0], 4)
    )


def test_a_store_that_disagrees_with_its_table_is_rebuilt(folder: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    KnowledgeIndex(folder, store, WordHashEncoder()).sync()
    (store / "vectors.usearch").unlink()  # as if the process died between the two writes
    encoder = WordHashEncoder()
    index = KnowledgeIndex(folder, store, encoder)
    assert index.sync().passages == 6 and len(encoder.encoded) == 6


async def test_searches_see_a_changed_file_without_a_restart(folder: Path, tmp_path: Path) -> None:
    kb = KnowledgeBase(folder, tmp_path / "store", WordHashEncoder, check_interval_s=0.0)
    assert (await kb.ready()).passages == 6
    (folder / "moving.md").write_text("# Moving\n\nTell us fourteen days before you move house.")
    hits = await kb.search("move house days", 1)
    assert hits[0].passage.document == "moving.md"
    assert kb.last_sync is not None and kb.last_sync.added == ["moving.md"]
