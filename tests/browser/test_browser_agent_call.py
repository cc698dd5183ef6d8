"""The browser agent in a real call, from an aiortc peer (`browser_server`: `voxroom dev` with
the scripted chooser of `scripted_agent`, real Chromium, real voice models):

- the browser's screen arrives as the agent's video, with the magenta box around the element
  being acted on; every step is narrated (captions) and sent as a `browser_step` message, and
  the site's cart shows the task was done;
- every step is in the audit trail (URL, screenshot file, candidates, prompt, raw output,
  action, result);
- with confirmation on, the agent waits for approval: a rejected action is not done, and a
  spoken "stop" ends the task between steps.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from av import VideoFrame

from tests.conftest import RunningServer, espeak_wav
from voxroom.audit.store import AuditStore
from voxroom.client import VoxroomClient
from voxroom.config import VoxroomConfig
from voxroom.media.audio import read_wav

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TASK = "Search the catalogue for a blue kettle under 40 euros and add it to the cart"
TIMEOUT_S = 120  # the embedding model loads in the server at the first session


class Frames:
    """The agent's video as it arrives: how many frames, and how many show the highlight."""

    def __init__(self) -> None:
        self.count = 0
        self.highlighted = 0
        self.sizes: set[tuple[int, int]] = set()
        self.example: np.ndarray | None = None

    def __call__(self, frame: VideoFrame, arrived: float) -> None:
        self.count += 1
        image = frame.to_ndarray(format="bgr24")
        self.sizes.add((image.shape[1], image.shape[0]))
        blue, green, red = (image[..., i].astype(np.int16) for i in range(3))
        magenta = (red > 190) & (blue > 190) & (green < 90)  # the box is #ff00ff, 4 px wide
        if int(magenta.sum()) > 400:
            self.highlighted += 1
            self.example = image


def _messages(client: VoxroomClient, kind: str) -> list[dict[str, Any]]:
    return [m for _, m in client.messages if m.get("type") == kind]


async def _task_end(client: VoxroomClient, after: float = 0.0) -> dict[str, Any]:
    return await client.wait_for(
        lambda m: m.get("type") == "browser_task" and m["status"] != "running", TIMEOUT_S, after
    )


async def _audit_rows(session_id: str) -> list[Any]:
    config = VoxroomConfig()
    async with AuditStore(config.audit.database_url(config.models.cache_dir)) as store:
        for _ in range(100):  # the writer commits within ~200 ms of the session's end
            rows = await store.events(session_id)
            if any(r.type == "session_ended" for r in rows):
                return list(rows)
            await asyncio.sleep(0.2)
    return list(rows)


async def test_the_call_shows_the_browser_doing_the_task(browser_server: RunningServer) -> None:
    frames = Frames()
    client = VoxroomClient(browser_server.url, video=True, on_video=frames)
    await client.connect()
    try:
        hello = await client.wait_for(lambda m: m.get("type") == "browser", TIMEOUT_S)
        assert hello["home"].startswith("http://127.0.0.1:") and not hello["confirm"]
        client.send({"type": "chat", "text": TASK})
        ended = await _task_end(client)
        session_id = client.session_id
        # Let the last frames (the cart) and the closing words arrive.
        await client.wait_for(
            lambda m: m.get("type") == "transcript" and m["role"] == "agent"
            and m["final"] and m["text"].startswith("Done"),
            60,
        )  # fmt: skip
    finally:
        await client.close()
    log = browser_server.log()[-4000:]
    assert ended["status"] == "done", f"{ended}\n{log}"
    steps = _messages(client, "browser_step")
    assert [s["action"]["kind"] for s in steps] == [
        "CLICK", "TYPE", "PRESS ENTER", "CLICK", "TERMINATE",
    ], steps  # fmt: skip
    assert all(s["result"] in ("done", "finished") for s in steps), steps
    assert steps[-2]["url"].endswith("/shop/search?q=blue+kettle"), steps[-2]
    said = " ".join(m["text"] for m in client.transcripts("agent"))
    assert "Typing “blue kettle” into" in said and "Clicking “Add to cart”" in said, said

    # The browser was the agent's video, with the element acted on boxed in magenta.
    assert frames.count > 30, frames.count
    assert frames.highlighted >= 3, (frames.count, frames.highlighted)
    assert frames.sizes == {(960, 600)}, frames.sizes

    # Every step in the audit trail, its screenshot in the session's files.
    assert session_id is not None
    rows = await _audit_rows(session_id)
    logged = [r.data() for r in rows if r.type == "browser_step"]
    assert [p["step"] for p in logged] == [1, 2, 3, 4, 5], logged
    typed = logged[1]
    assert typed["action"] == {"kind": "TYPE", "element": typed["action"]["element"],
                               "text": "Search the catalogue", "value": "blue kettle"}  # fmt: skip
    assert typed["url"].endswith("/shop/") and typed["result"] == "done"
    assert typed["raw_output"].endswith("TYPE blue kettle")
    assert "Task: " + TASK in typed["prompt"] and typed["candidates"], typed
    assert any("Search the catalogue" in c["text"] for c in typed["candidates"])
    config = VoxroomConfig()
    shot = config.audit.files_dir(config.models.cache_dir) / session_id / typed["screenshot"]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {"browser_task_started", "browser_task_ended"} <= {r.type for r in rows}


async def test_confirmation_rejecting_and_a_spoken_stop(
    browser_server: RunningServer, speech_dir: Path
) -> None:
    samples, rate = read_wav(espeak_wav("Stop, please stop.", speech_dir / "stop.wav"))
    client = VoxroomClient(browser_server.url, video=True)
    await client.connect()
    try:
        await client.wait_for(lambda m: m.get("type") == "browser", TIMEOUT_S)
        client.send({"type": "browser_settings", "confirm": True})
        await client.wait_for(lambda m: m.get("type") == "browser" and m["confirm"], 10)
        # Rejected: not done, and not offered again; with nothing else to do, the task ends.
        client.send({"type": "chat", "text": TASK})
        asked = await client.wait_for(
            lambda m: m.get("type") == "browser_confirm_request", TIMEOUT_S
        )
        assert asked["action"] == "CLICK" and asked["step"] == 1, asked
        assert asked["element"] == "Kettle & Co shop", asked
        client.send({"type": "browser_confirm", "approve": False})
        first = await _task_end(client)
        steps = _messages(client, "browser_step")
        assert steps[0]["result"] == "rejected" and first["status"] == "no_progress", steps
        # Asked again in a new task: "stop", said aloud, ends it before anything is done.
        began = time.monotonic()
        client.send({"type": "chat", "text": TASK})
        await client.wait_for(
            lambda m: m.get("type") == "browser_confirm_request" and m["task_id"] == 2, 60
        )
        await asyncio.sleep(1.0)
        await client.speak(samples, rate)
        ended = await _task_end(client, after=began)
    finally:
        await client.close()
    assert ended["task_id"] == 2 and ended["status"] == "stopped", (
        ended,
        json.dumps(client.transcripts("user")),
    )
    assert all(s["result"] != "done" for s in _messages(client, "browser_step"))


def test_the_agent_is_video_capable_in_the_client_config(browser_server: RunningServer) -> None:
    with urllib.request.urlopen(f"{browser_server.url}/api/v1/config", timeout=10) as response:
        config = json.load(response)
    assert config["agent_video"] is True
