"""Benchmark tests: voxroom's part runs by default; anything that installs the anchor
frameworks (pip into their own venvs, minutes) only with VOXROOM_BENCH_ANCHORS=1."""

from __future__ import annotations

import os

import pytest

ANCHORS_ENV = "VOXROOM_BENCH_ANCHORS"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"anchors: installs Pipecat / LiveKit Agents (runs only with {ANCHORS_ENV}=1)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.environ.get(ANCHORS_ENV) == "1":
        return
    skip = pytest.mark.skip(reason=f"installs anchor frameworks: set {ANCHORS_ENV}=1")
    for item in items:
        if "anchors" in item.keywords:
            item.add_marker(skip)
