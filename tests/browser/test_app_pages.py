"""The room page with the shipped call apps, end to end in headless Chromium (each person in a
browser of their own, with a fake microphone speaking an espeak-ng WAV), on the real Janus of
tests/rooms (`room_server`):

- the agent-assist copilot: the human agent's page (`?role=agent`) shows the copilot panel
  with a suggestion citing the right document for the customer's spoken question, and answers
  a typed "ask"; the customer's page shows no panel and receives nothing from the copilot;
- the live translator: the English listener's page shows the German speaker's words with an
  English translation under them, and a language picker that tells the translator.

Screenshots go to /tmp/room-shots (the README's come from here).
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Playwright

from tests.browser.test_room_page import SHOTS, RoomPage, browser_with_mic, end_room, looped_speech
from tests.conftest import RunningServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]
TIMEOUT_S = 150  # the first suggestion waits for the embedding model to load in the server


def create_room(server: RunningServer, agent: str) -> dict[str, Any]:
    def post(path: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(
            f"{server.url}{path}", data=json.dumps(body).encode(), headers=headers
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return dict(json.load(response))

    token = post("/api/v1/tokens", {"scopes": ["rooms"]})["token"]
    return post("/api/v1/rooms", {"agent": agent, "name": f"{agent} demo"}, token)


def open_room(page: RoomPage, room: dict[str, Any], query: str) -> None:
    page.page.goto(f"{page.server.url}{room['join_url']}&processing=0&{query}")
    page.join()
    page.wait_until_heard()


def test_the_copilot_panel_is_the_human_agents_only(
    pw: Playwright, room_server: RunningServer, speech_dir: Path
) -> None:
    question = looped_speech("How do I reset my router?", speech_dir / "carla.wav", "en-us", 6.0)
    answer = looped_speech(
        "Sure, let me check that for you.", speech_dir / "sam.wav", "en-gb", 14.0
    )
    room = create_room(room_server, "assist")
    try:
        with (
            browser_with_mic(pw, room_server, "Carla", question) as carla,
            browser_with_mic(pw, room_server, "Sam", answer) as sam,
        ):
            open_room(sam, room, "role=agent")
            open_room(carla, room, "role=customer")
            document = sam.wait_for(
                """() => window.voxroomRoom.state().copilot.suggestions.find(
                    (s) => s.trigger !== 'ask')?.document""",
                "a suggestion on the human agent's panel",
                TIMEOUT_S,
            )
            assert document == "router.md"
            sam.wait_for(
                """() => window.voxroomRoom.state().captions.some(
                    (c) => c.name === 'Carla' && c.final)""",
                "Carla's words in Sam's transcript",
                30,
            )
            sam.page.fill("#copilot-ask-input", "when is the bill due")
            sam.page.click("#copilot-ask button")
            asked = sam.wait_for(
                """() => window.voxroomRoom.state().copilot.suggestions.find(
                    (s) => s.trigger === 'ask')?.document""",
                "the answer to Sam's question",
                30,
            )
            assert asked == "billing.md"
            sam.wait_for(
                "() => window.voxroomRoom.state().copilot.summary.includes('router.md')",
                "the running summary",
                30,
            )
            sam.png("assist")
            state = carla.state()
            assert state["role"] == "customer" and not state["copilot"]["shown"]
            assert state["captions"] == [], "the customer receives nothing from the copilot"
            assert carla.page.is_hidden("#copilot")
            errors = [line for p in (sam, carla) for line in p.console if "[pageerror]" in line]
            assert not errors, errors
    finally:
        end_room(room_server, room["id"])


def test_the_translator_shows_each_listener_their_language(
    pw: Playwright, room_server: RunningServer, speech_dir: Path
) -> None:
    german = looped_speech(
        "Ich habe meinen Schlüssel im Auto vergessen und kann nicht nach Hause.",
        speech_dir / "dieter.wav",
        "de",
        6.0,
    )
    english = looped_speech(
        "Hello Dieter, I will call a taxi for you.", speech_dir / "ben.wav", "en-gb", 18.0
    )
    room = create_room(room_server, "translate")
    try:
        with (
            browser_with_mic(pw, room_server, "Dieter", german) as dieter,
            browser_with_mic(pw, room_server, "Ben", english) as ben,
        ):
            open_room(ben, room, "lang=en")
            open_room(dieter, room, "lang=de")
            translated = ben.wait_for(
                """() => window.voxroomRoom.state().captions.find(
                    (c) => c.name === 'Dieter' && c.translationFinal)?.translation""",
                "an English translation of Dieter's words",
                TIMEOUT_S,
            )
            heard = set(str(translated).lower().replace(".", " ").replace(",", " ").split())
            assert {"car", "home", "key", "keys"} & heard, translated
            # Dieter reads Ben in German (through the LLM).
            dieter.wait_for(
                """() => window.voxroomRoom.state().captions.some(
                    (c) => c.name === 'Ben' && c.translationFinal)""",
                "a German translation of Ben's words",
                TIMEOUT_S,
            )
            assert ben.state()["language"] == "en"
            assert dieter.state()["language"] == "de"
            SHOTS.mkdir(parents=True, exist_ok=True)
            ben.page.screenshot(path=str(SHOTS / "room-ben-translate.png"), full_page=True)
            # Ben picks French: the translator acknowledges it.
            ben.page.select_option("#room-language", "fr")
            ben.wait_for("() => window.voxroomRoom.state().language === 'fr'", "French", 20)
            errors = [line for p in (dieter, ben) for line in p.console if "[pageerror]" in line]
            assert not errors, errors
    finally:
        end_room(room_server, room["id"])
    assert (SHOTS / "room-ben-translate.png").exists()
