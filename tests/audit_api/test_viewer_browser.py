"""The audit viewer in headless Chromium.

Two servers: the in-process app with scripted sessions (exact texts and times, so the
recording/transcript sync is checked to the tenth of a second), and the real `voxroom dev`
with a real session made just before (the viewer must show what a real session stores).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from tests.audit_api.devserver import ViewerServer, viewer_server
from tests.audit_api.sessions import AGENT_TURNS, USER_TURNS
from tests.conftest import RunningServer
from voxroom.client import VoxroomClient

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
TOKEN_KEY = "voxroom-audit-token"
SCREENSHOT_COPY = Path("/tmp/voxroom-audit-viewer.png")
REAL_SCREENSHOT_COPY = Path("/tmp/voxroom-audit-viewer-real.png")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is required (Debian package chromium)")
    with sync_playwright() as playwright:
        yield _launch(playwright)


def _launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)


@pytest.fixture(scope="module")
def viewer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ViewerServer]:
    with viewer_server(tmp_path_factory.mktemp("viewer")) as served:
        yield served


class Viewer:
    """One page of the viewer, with its console kept for failure messages."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console: list[str] = []
        page.on("console", lambda m: self.console.append(f"[{m.type}] {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"[pageerror] {e}"))

    def wait_for(self, predicate: str, what: str, timeout_s: float = 15) -> Any:
        try:
            handle = self.page.wait_for_function(predicate, timeout=timeout_s * 1000, polling=100)
            return handle.json_value()
        except PlaywrightError as exc:
            state = self.page.evaluate("() => window.voxroomAudit && window.voxroomAudit.state()")
            pytest.fail(
                f"timed out after {timeout_s} s waiting for {what}: {exc}\n"
                f"--- state ---\n{json.dumps(state, indent=1, default=str)[-4000:]}\n"
                f"--- console ---\n" + "\n".join(self.console[-100:])
            )

    def texts(self, selector: str) -> list[str]:
        return [t.strip() for t in self.page.locator(selector).all_inner_texts()]

    def count(self, selector: str) -> int:
        return self.page.locator(selector).count()

    def current_time(self) -> float:
        return float(self.page.evaluate("() => document.getElementById('recording').currentTime"))


def open_viewer(browser: Browser, url: str, token: str | None) -> Iterator[Viewer]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    if token is not None:
        context.add_init_script(f"sessionStorage.setItem({TOKEN_KEY!r}, {json.dumps(token)})")
    try:
        page = context.new_page()
        viewer = Viewer(page)
        page.goto(url)
        yield viewer
    finally:
        context.close()


@pytest.fixture
def page(browser: Browser, viewer: ViewerServer) -> Iterator[Viewer]:
    for shown in open_viewer(browser, f"{viewer.url}/audit/", viewer.token):
        yield shown
        errors = [c for c in shown.console if c.startswith(("[error]", "[pageerror]"))]
        assert not errors, errors


# --- the scripted sessions -------------------------------------------------------------------
def test_list_filters_and_opens_a_session(page: Viewer, viewer: ViewerServer) -> None:
    page.wait_for("() => document.querySelectorAll('#session-list tr').length === 3", "3 rows")
    rows = page.page.eval_on_selector_all(
        "#session-list tr", "rows => rows.map(r => r.dataset.sessionId)"
    )
    assert rows == list(reversed(viewer.session_ids)), "newest first"
    assert page.page.locator("#auth-state").get_attribute("data-state") == "ok"

    page.page.fill("#filter-agent", "help desk")
    page.page.click("#filter-apply")
    page.wait_for("() => document.querySelectorAll('#session-list tr').length === 1", "filter")
    assert page.count(f'#session-list tr[data-session-id="{viewer.session_ids[1]}"]') == 1
    page.page.fill("#filter-since", "2000-01-01")
    page.page.fill("#filter-until", "2000-01-02")
    page.page.click("#filter-apply")
    page.wait_for("() => !document.getElementById('list-empty').hidden", "no rows in 2000")
    page.page.click("#filter-reset")
    page.wait_for("() => document.querySelectorAll('#session-list tr').length === 3", "reset")

    page.page.click(f'#session-list tr[data-session-id="{viewer.session_ids[0]}"]')
    page.wait_for("() => document.querySelectorAll('#timeline .line').length === 6", "6 lines")
    assert page.page.evaluate("() => location.hash") == f"#session={viewer.session_ids[0]}"
    page.page.go_back()
    page.wait_for("() => !document.getElementById('list-view').hidden", "the list again")


def test_session_timeline(page: Viewer, viewer: ViewerServer, tmp_path: Path) -> None:
    session_id = viewer.session_ids[0]
    page.page.goto(f"{viewer.url}/audit/#session={session_id}")
    page.wait_for("() => document.querySelectorAll('#timeline .line').length === 6", "6 lines")

    assert page.texts('.line[data-role="user"] .text') == [u[3] for u in USER_TURNS]
    agent = page.texts('.line[data-role="agent"] .text')
    assert agent == [a[4] or a[3] for a in AGENT_TURNS]  # what was played
    assert page.count('.line[data-role="agent"] .tag-bad') == 1  # the barge-in
    assert "On weekends" in page.texts(".unplayed")[0]  # what was cut off
    # LLM calls with the full context, the tool call, usage, the error.
    assert page.count('details.call[data-event-type="llm_request"]') == 4
    assert page.count('details[data-event-type="tool_call"]') == 1
    assert page.count('[data-event-type="stt_usage"]') == 3
    assert page.count('[data-event-type="tts_usage"]') == 3
    assert page.count('#timeline [data-event-type="error"]') == 1
    first_call = page.page.locator('details.call[data-event-type="llm_request"]').first
    first_call.locator("summary.call-summary").click()
    body = first_call.inner_text()
    assert "Harbor Hotel" in body and "Context (hotel knowledge base)" in body  # as sent
    assert "book_taxi" in body and "temperature" in body and "390 ms" in body
    # Latency bars, totals, chain, exports.
    assert page.count("#latency .latency-row") == 3
    assert page.count("#latency .latency-row .seg") >= 3 * 4
    assert page.page.locator('#totals [data-total="turns"] .tile-value').inner_text() == "3"
    assert page.page.locator('#totals [data-total="cost"] .tile-value').inner_text() == "$0.00257"
    assert page.page.locator("#chain-status").get_attribute("data-ok") == "true"
    for fmt in ("json", "jsonl"):
        href = page.page.locator(f"#export-{fmt}").get_attribute("href")
        assert href is not None
        response = page.page.request.get(f"{viewer.url}{href}")
        assert response.status == 200
        first = json.loads(response.text().splitlines()[0] if fmt == "jsonl" else response.text())
        assert first["session"]["id"] == session_id

    # The recording: loaded, and in sync with the transcript.
    duration = page.wait_for(
        "() => { const d = document.getElementById('recording').duration;"
        " return Number.isFinite(d) && d > 0 ? d : null; }",
        "the recording's duration",
    )
    assert duration == pytest.approx(16.5, abs=0.05)
    second_user = page.page.locator('.line[data-role="user"]').nth(1)
    second_user.click()  # seeks to the start of that utterance and plays
    assert page.current_time() == pytest.approx(USER_TURNS[1][1], abs=0.3)
    assert "active" in (second_user.get_attribute("class") or "")
    # While it plays, the highlight follows: from the user's line to the agent's reply.
    page.wait_for(
        f"() => document.getElementById('recording').currentTime > {AGENT_TURNS[1][1] + 0.2}",
        "playback to reach the agent's second reply",
    )
    active = page.page.locator("#timeline .line.active")
    assert active.count() == 1 and active.get_attribute("data-role") == "agent"
    assert "Breakfast" in active.inner_text()
    shot = tmp_path / "audit-viewer.png"
    page.page.screenshot(path=str(shot), full_page=True)
    shutil.copyfile(shot, SCREENSHOT_COPY)


def test_tampered_session_and_missing_recording(page: Viewer, viewer: ViewerServer) -> None:
    session_id = viewer.session_ids[2]  # seeded without files
    db = viewer.files_dir.parent / "audit.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE events SET payload = REPLACE(payload, 'When is breakfast', 'When is dinner') "
            "WHERE session_id = ?",
            (session_id,),
        )
    page.page.goto(f"{viewer.url}/audit/#session={session_id}")
    page.wait_for("() => document.getElementById('chain-status').dataset.ok === 'false'", "broken")

    assert "does not verify" in page.page.locator("#chain-detail").inner_text()
    assert not page.page.locator("#no-recording").is_hidden()
    page.page.click("#raw-events summary")
    # The list is built on the details' toggle event, which fires after the click returns.
    page.page.wait_for_selector("#raw-events[data-built='true'] .raw", timeout=10_000)
    bad = page.page.locator(".raw.bad-link")
    assert bad.count() == 1 and bad.get_attribute("data-event-type") == "user_transcript"


def test_token_panel_when_the_token_is_refused(browser: Browser, viewer: ViewerServer) -> None:
    for shown in open_viewer(browser, f"{viewer.url}/audit/", "not-a-token"):
        shown.wait_for("() => !document.getElementById('token-panel').hidden", "the token panel")
        assert "refused" in shown.page.locator("#token-reason").inner_text()
        shown.page.fill("#token-input", viewer.token)
        shown.page.click("#token-form button")
        shown.wait_for("() => document.querySelectorAll('#session-list tr').length === 3", "rows")


# --- a real session on the real server -------------------------------------------------------
async def _chat_session(url: str) -> str:
    client = VoxroomClient(url)
    try:
        await client.connect()
        client.send({"type": "chat", "text": "What is the capital of France?"})
        await client.wait_for(
            lambda m: m.get("type") == "transcript" and m["role"] == "agent" and m["final"], 120
        )
        await asyncio.sleep(0.5)  # the last audio into the recorder
        assert client.session_url is not None
        return client.session_url.rsplit("/", 1)[1]
    finally:
        await client.close()  # DELETE: the session ends, its recording is saved


def _http_json(url: str, token: str | None = None, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.timeout(300)
def test_real_session_in_the_viewer(server: RunningServer, browser: Browser) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        session_id = pool.submit(asyncio.run, _chat_session(server.url)).result(timeout=180)
    # The dev server hands loopback clients an audit token (as it does for the viewer).
    token = _http_json(f"{server.url}/api/v1/tokens", body={"scopes": ["audit"]})["token"]
    deadline = time.monotonic() + 30
    while True:  # the session's end and its recording reach the store
        detail = _http_json(f"{server.url}/api/v1/audit/sessions/{session_id}", token)
        if detail["session"]["ended_at"] is not None and detail["recording"]:
            break
        assert time.monotonic() < deadline, f"session never ended in the store: {detail}"
        time.sleep(0.3)

    for shown in open_viewer(browser, f"{server.url}/audit/", token=None):
        row = f'#session-list tr[data-session-id="{session_id}"]'
        shown.wait_for(f"() => !!document.querySelector('{row}')", "the session in the list")
        shown.page.click(row)
        shown.wait_for(
            "() => document.querySelector('#timeline .line[data-role=\"agent\"]')", "agent line"
        )
        user = shown.texts('.line[data-role="user"] .text')
        agent = shown.texts('.line[data-role="agent"] .text')
        assert user == ["What is the capital of France?"], user
        assert len(agent) == 1 and agent[0], agent
        assert shown.count('details.call[data-event-type="llm_request"]') >= 1
        assert shown.count("#latency .latency-row") >= 1
        assert shown.page.locator("#chain-status").get_attribute("data-ok") == "true"
        duration = shown.wait_for(
            "() => { const d = document.getElementById('recording').duration;"
            " return Number.isFinite(d) && d > 0 ? d : null; }",
            "the recording's duration",
        )
        assert duration > 0
        shown.page.screenshot(path=str(REAL_SCREENSHOT_COPY), full_page=True)
