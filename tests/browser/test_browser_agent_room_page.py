"""The browser agent on the room page, in headless Chromium, on the real Janus of tests/rooms
(`room_server`; the shipped app, its chooser the packaged Gemma): the agent's tile shows the
browser's screen, wide, and the browser panel appears with the allow-list; a typed task shows
as running there and the panel's Stop button ends it.

The screenshot goes to /tmp/room-shots/room-ria-browser.png.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Playwright

from tests.browser.test_app_pages import create_room, open_room
from tests.browser.test_room_page import browser_with_mic, end_room
from tests.conftest import RunningServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]
TIMEOUT_S = 150


def test_the_room_page_shows_the_browser_agent(
    pw: Playwright, room_server: RunningServer, tmp_path: Path
) -> None:
    silence = tmp_path / "silence.wav"
    subprocess.run(
        ["sox", "-n", "-r", "16000", "-b", "16", "-c", "1", str(silence), "trim", "0", "2"],
        check=True,
    )
    room = create_room(room_server, "browser")
    try:
        with browser_with_mic(pw, room_server, "Ria", silence) as ria:
            open_room(ria, room, "lang=en")
            allowed = ria.wait_for(
                "() => window.voxroomRoom.state().browser?.shown"
                " && window.voxroomRoom.state().browser.allowed",
                "the browser panel",
                TIMEOUT_S,
            )
            assert allowed and allowed[0].startswith("127.0.0.1:"), allowed
            ria.wait_for(
                """() => window.voxroomRoom.state().tiles.some(
                    (t) => t.kind === 'agent' && t.video)""",
                "the browser in the agent's tile",
                TIMEOUT_S,
            )
            width = ria.page.evaluate(
                "() => document.querySelector('.tile[data-kind=agent]').clientWidth"
            )
            tiles = ria.page.evaluate("() => document.querySelector('#room-tiles').clientWidth")
            assert width >= tiles * 0.95, (width, tiles)  # the screen spans the tiles' row
            ria.page.fill("#room-chat-input", "Open the Garden Club newsletter page")
            ria.page.click("#room-chat-send")
            ria.wait_for(
                "() => window.voxroomRoom.state().browser.status === 'running'",
                "the task running",
                60,
            )
            ria.png("browser")
            ria.page.click("#room-browser-panel .browser-head button")
            status = ria.wait_for(
                "() => window.voxroomRoom.state().browser.status !== 'running'"
                " && window.voxroomRoom.state().browser.status",
                "the task to end",
                TIMEOUT_S,
            )
            assert status in ("stopped", "done", "no_progress"), status
            errors = [line for line in ria.console if "[pageerror]" in line]
            assert not errors, errors
    finally:
        end_room(room_server, room["id"])
