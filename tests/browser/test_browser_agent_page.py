"""The browser agent in the playground, in headless Chromium (`browser_server`: the scripted
chooser): the page connects without a camera, receives the agent's video (the browser's
screen), shows the browser panel; with "Ask me before each action" ticked each action waits
for the Approve button, the element it would act on boxed in the live view.

The screenshot (README's docs/img/browser.png) goes to /tmp/voxroom-browser-agent.png.
"""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, Playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_FLAGS
from tests.conftest import RunningServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TASK = "Search the catalogue for a blue kettle under 40 euros and add it to the cart"
SCREENSHOT = Path("/tmp/voxroom-browser-agent.png")
TIMEOUT_S = 120


@pytest.fixture
def playground(
    pw: Playwright, browser_server: RunningServer, tmp_path: Path
) -> Iterator[tuple[Page, list[str]]]:
    silence = tmp_path / "silence.wav"  # nobody speaks: buttons and typing only
    subprocess.run(
        ["sox", "-n", "-r", "16000", "-b", "16", "-c", "1", str(silence), "trim", "0", "2"],
        check=True,
    )
    flags = [*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={silence}"]
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=flags)
    console: list[str] = []
    try:
        page = browser.new_page(viewport={"width": 1360, "height": 1000})
        page.on("console", lambda m: console.append(f"[{m.type}] {m.text}"))
        page.on("pageerror", lambda e: console.append(f"[pageerror] {e}"))
        page.goto(browser_server.url)
        yield page, console
        with contextlib.suppress(PlaywrightError):
            page.evaluate("() => window.voxroom.disconnect()")
    finally:
        browser.close()


def _wait(page: Page, predicate: str, what: str, console: list[str]) -> Any:
    try:
        handle = page.wait_for_function(predicate, timeout=TIMEOUT_S * 1000, polling=200)
        return handle.json_value()
    except PlaywrightError as exc:
        state = page.evaluate("() => window.voxroom.state()")
        pytest.fail(f"timed out waiting for {what}: {exc}\n{json.dumps(state)[-4000:]}\n{console}")


def _magenta_pixels(page: Page) -> int:
    data = page.evaluate("() => window.voxroom.grabAgentFrame()")
    assert data, "no frame in the agent's video"
    image = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR)
    blue, green, red = (image[..., i].astype(np.int16) for i in range(3))
    return int(((red > 190) & (blue > 190) & (green < 90)).sum())


def test_the_playground_shows_the_browser_and_asks_before_acting(
    playground: tuple[Page, list[str]],
) -> None:
    page, console = playground
    assert not page.is_checked("#camera-toggle")
    page.click("#connect-button")
    _wait(page, "() => window.voxroom.state().browser?.shown", "the browser panel", console)
    _wait(page, "() => window.voxroom.state().video.frames > 5", "the agent's video", console)
    assert page.is_visible("#agent-video") and page.is_hidden("#local-tile")
    page.check("#browser-panel input[type=checkbox]")
    _wait(page, "() => window.voxroom.state().browser.confirm", "confirmation mode", console)
    page.fill("#chat-input", TASK)
    page.click("#chat-send")
    for number in (1, 2, 3, 4):
        pending = _wait(
            page,
            f"() => window.voxroom.state().browser.pending?.step === {number}"
            " && window.voxroom.state().browser.pending",
            f"the approval asked for step {number}",
            console,
        )
        if number == 4:  # "Add to cart" on the results: boxed in the live view
            assert pending["action"] == "CLICK" and pending["element"] == "Add to cart", pending
            page.wait_for_timeout(1500)  # the frame with the box reaches the page
            assert _magenta_pixels(page) > 400
            page.evaluate("() => window.scrollTo(0, 0)")
            page.screenshot(path=str(SCREENSHOT), full_page=False)
        page.click("#browser-panel .browser-pending button[data-verdict=approve]")
    state = _wait(
        page,
        "() => ['done', 'stopped', 'failed', 'no_progress', 'step_limit'].includes("
        "window.voxroom.state().browser.status) && window.voxroom.state().browser",
        "the end of the task",
        console,
    )
    assert state["status"] == "done", state
    assert [s["result"] for s in state["steps"]] == ["done"] * 4 + ["finished"], state
    errors = [line for line in console if "[pageerror]" in line]
    assert not errors, errors
