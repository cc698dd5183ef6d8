"""The playground with a camera: headless Chromium's fake camera plays a Y4M of drawn faces
(made here), the face agent sends boxed video back, and the page shows it next to the camera.

Each Y4M frame carries its frame number as a barcode, so a frame grabbed from the agent's
<video> (through a canvas) tells which scene it shows, and so where the faces must be boxed.
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
from playwright.sync_api import Page, Playwright, sync_playwright

from tests.browser.test_playground import CHROMIUM, CHROMIUM_FLAGS
from tests.conftest import RunningServer
from voxroom.bench.video_scene import box_hits, face_scene, read_barcode, scene_faces, write_barcode
from voxroom.bench.video_scene import write_y4m as write_scene_y4m

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FPS = 15
SECONDS = 4  # one full cycle of the faces' drift: the looped file has no jump
GRABS = 12


def make_y4m(path: Path) -> Path:
    frames = []
    for index in range(FPS * SECONDS):
        image, _ = face_scene(index / FPS)
        write_barcode(image, index)
        frames.append(image)
    write_scene_y4m(str(path), frames, FPS)
    return path


@pytest.fixture
def camera_page(face_server: RunningServer, tmp_path: Path) -> Iterator[tuple[Page, list[str]]]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is required (Debian package chromium)")
    y4m = make_y4m(tmp_path / "faces.y4m")
    silence = tmp_path / "silence.wav"
    subprocess.run(
        ["sox", "-n", "-r", "16000", "-b", "16", "-c", "1", str(silence), "trim", "0", "2"],
        check=True,
    )
    flags = [
        *CHROMIUM_FLAGS,
        f"--use-file-for-fake-audio-capture={silence}",
        f"--use-file-for-fake-video-capture={y4m}",
    ]
    console: list[str] = []
    pw: Playwright
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=flags)
        try:
            page = browser.new_page()
            page.on("console", lambda m: console.append(f"[{m.type}] {m.text}"))
            page.on("pageerror", lambda e: console.append(f"[pageerror] {e}"))
            page.goto(f"{face_server.url}/?video=1")
            yield page, console
            with contextlib.suppress(PlaywrightError):
                page.evaluate("() => window.voxroom.disconnect()")
        finally:
            browser.close()


def _wait(page: Page, predicate: str, what: str, timeout_s: float, context: str) -> Any:
    try:
        return page.wait_for_function(predicate, timeout=timeout_s * 1000, polling=200).json_value()
    except PlaywrightError as exc:
        state = page.evaluate("() => window.voxroom.state()")
        pytest.fail(f"timed out waiting for {what}: {exc}\n{json.dumps(state)[-3000:]}{context}")


@pytest.mark.timeout(240)
def test_agent_video_shows_boxes_next_to_the_camera(
    camera_page: tuple[Page, list[str]], face_server: RunningServer, tmp_path: Path
) -> None:
    page, console = camera_page
    context = "\n" + "\n".join(console[-50:]) + "\n" + face_server.log()[-5000:]
    assert page.is_checked("#camera-toggle"), "?video=1 should tick the camera box"
    page.click("#connect-button")
    _wait(page, "() => window.voxroom.state().conn === 'connected'", "connection", 30, context)
    assert page.is_disabled("#camera-toggle"), "the camera box must be fixed during a call"
    assert page.is_visible("#video-panel") and page.is_visible("#local-video")
    _wait(
        page,
        "() => document.getElementById('agent-tile').dataset.live === 'true'"
        " && window.voxroom.state().video.frames > 30",
        "the agent's video to play",
        60,
        context,
    )
    stats = _wait(
        page,
        "() => { const s = window.voxroom.state().video.stats; return s && s.processed_frames > 20"
        " ? s : null; }",
        "video_stats from the agent",
        30,
        context,
    )
    local_width = page.evaluate("() => document.getElementById('local-video').videoWidth")
    assert local_width > 0, "the local camera preview shows nothing"
    assert "fps processed" in page.inner_text("#video-stats")

    checked = hits = 0
    for grab in range(GRABS):
        png = page.evaluate("() => window.voxroom.grabAgentFrame()")
        assert png, "no frame to grab from the agent's <video>"
        image = cv2.imdecode(np.frombuffer(base64.b64decode(png), np.uint8), cv2.IMREAD_COLOR)
        assert image is not None, "the grabbed PNG does not decode"
        counter = read_barcode(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
        if counter is not None:
            checked += 1
            hit = box_hits(image, scene_faces(counter / FPS))
            hits += hit
            if not hit:
                cv2.imwrite(str(tmp_path / f"miss-{grab}.png"), image)
        page.wait_for_timeout(250)
    page.screenshot(path=str(tmp_path / "playground-video.png"), full_page=True)
    with contextlib.suppress(OSError):
        page.screenshot(path="/tmp/voxroom-playground-video.png", full_page=True)
    print(f"\nbrowser: {hits}/{checked} grabbed agent frames boxed both faces; agent stats {stats}")
    assert checked >= GRABS // 2, f"only {checked} of {GRABS} grabbed frames had a barcode{context}"
    assert hits >= 0.8 * checked, f"{hits}/{checked} frames boxed both faces (see {tmp_path})"
