"""Headless Chromium for the browser tests (Debian's package, driven by Playwright)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Playwright, sync_playwright

from tests.conftest import RunningServer
from voxroom.bench.harness import start_server, stop_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture(scope="module")
def pw() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is required (Debian package chromium)")
    with sync_playwright() as playwright:
        yield playwright


# The browser agent with a scripted chooser (the benchmark's oracle) instead of the LLM.
SCRIPTED_BROWSER_AGENT = "tests.browser.scripted_agent:ScriptedBrowserAgent"


@pytest.fixture(scope="session")
def browser_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """`voxroom dev` running the scripted browser agent (real Chromium, real voice models)."""
    log_path = tmp_path_factory.mktemp("browser-agent") / "voxroom-dev.log"
    process, url = start_server(log_path, "--agent", SCRIPTED_BROWSER_AGENT)
    yield RunningServer(url, log_path, process.pid)
    stop_server(process)
