"""The room page end to end: two people, each in a headless Chromium of their own, and the agent
in one room on the real Janus of tests/rooms (`room_server`, ICE on the veth's 127.0.0.2).

Separate browser processes give each person their own fake microphone: a WAV spoken by
espeak-ng in their own voice. Chromium's fake capture device loops the file; the silence around
the speech gives every loop the same shape: Bob makes a remark to Alice early, Alice asks the
agent a little later, and the answer has time to finish before the next loop begins.

Alice creates the room from the playground's Rooms card; Bob first tries a room that does not
exist, then opens the link Alice's page offers.
"""

from __future__ import annotations

import base64
import contextlib
import json
import urllib.request
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright
from playwright.sync_api import Error as PlaywrightError

from tests.browser.conftest import CHROMIUM, CHROMIUM_FLAGS
from tests.conftest import RunningServer, espeak_wav

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Alice (en-us) asks the agent by name. Whisper base hears espeak's "capital of France" as
# "capital and friends" (tests/browser/test_playground.py); "capital city of Germany" it keeps.
QUESTION = "Nova, what is the capital city of Germany?"
REMARK = "I think we should meet tomorrow."  # Bob (en-gb) talks to Alice: heard, not answered
LOOP_S = 40.0  # each fake microphone repeats its file every LOOP_S seconds
ALICE_LEAD_S = 12.0  # both join within a second or two: Bob speaks at ~5 s, Alice at ~12 s
BOB_LEAD_S = 5.0
TURN_TIMEOUT_S = 120  # two loops: a first utterance may be missed while the agent subscribes
SHOTS = Path("/tmp/room-shots")

# Record every RTCPeerConnection (to report the ICE candidates it used) and every change of a
# tile's speaking ring; both are test instrumentation, set up before the page's own scripts.
INSTRUMENT = """
window.__pcs = [];
window.__speaking = [];
const NativePeerConnection = window.RTCPeerConnection;
window.RTCPeerConnection = class extends NativePeerConnection {
  constructor(...args) { super(...args); window.__pcs.push(this); }
};
document.addEventListener('DOMContentLoaded', () => {
  new MutationObserver((mutations) => {
    for (const m of mutations) {
      const tile = m.target;
      if (!tile.classList || !tile.classList.contains('tile')) continue;
      const speaking = tile.classList.contains('speaking');
      if (speaking !== String(m.oldValue || '').split(' ').includes('speaking')) {
        window.__speaking.push({ name: tile.dataset.name, kind: tile.dataset.kind, speaking,
                                 t: Math.round(performance.now()) });
      }
    }
  }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['class'],
                              attributeOldValue: true });
});
"""

ICE_REPORT = """async () => {
  const out = [];
  for (const pc of window.__pcs) {
    if (pc.connectionState === 'closed') continue;
    const stats = [...(await pc.getStats()).values()];
    const byId = new Map(stats.map((s) => [s.id, s]));
    const show = (c) => c && `${c.address}:${c.port} ${c.candidateType}`;
    const pair = stats.find((s) => s.type === 'candidate-pair' && s.nominated
                                   && s.state === 'succeeded');
    out.push({
      state: pc.connectionState,
      local: stats.filter((s) => s.type === 'local-candidate').map(show),
      remote: stats.filter((s) => s.type === 'remote-candidate').map(show),
      pair: pair ? `${show(byId.get(pair.localCandidateId))} -> ${
        show(byId.get(pair.remoteCandidateId))}` : null,
    });
  }
  return out;
}"""


@dataclass
class RoomPage:
    """One person's browser (with its own fake microphone) on the playground's room page."""

    name: str
    page: Page
    server: RunningServer
    console: list[str] = field(default_factory=list)

    def state(self) -> Any:
        try:
            return self.page.evaluate("() => window.voxroomRoom && window.voxroomRoom.state()")
        except PlaywrightError as exc:
            return f"<unavailable: {exc}>"

    def diagnostics(self) -> str:
        state = json.dumps(self.state(), indent=1, default=str)
        return (
            f"\n--- {self.name}'s page state ---\n{state[-8000:]}"
            f"\n--- {self.name}'s browser console ({len(self.console)} messages) ---\n"
            + "\n".join(self.console[-120:])
            + f"\n--- server log ---\n{self.server.log()[-15000:]}"
        )

    def wait_for(self, predicate: str, what: str, timeout_s: float = TURN_TIMEOUT_S) -> Any:
        """Wait until the JS `predicate` (a function expression) is truthy; return its value."""
        try:
            handle = self.page.wait_for_function(predicate, timeout=timeout_s * 1000, polling=250)
            return handle.json_value()
        except PlaywrightError as exc:
            pytest.fail(
                f"{self.name}: timed out after {timeout_s} s waiting for {what}: {exc}"
                f"{self.diagnostics()}"
            )

    def join(self) -> None:
        self.page.fill("#room-name", self.name)
        self.page.click("#room-join")

    def wait_until_heard(self) -> None:
        self.wait_for("() => window.voxroomRoom.state().heard", "the agent to hear us", 30)

    def caption(self, role: str, name: str, pattern: str) -> str:
        """Wait for a final caption of `role` by `name` whose text matches `pattern`."""
        return str(
            self.wait_for(
                f"""() => window.voxroomRoom.state().captions.find((c) =>
                    c.role === {role!r} && c.final && c.name === {name!r}
                    && /{pattern}/i.test(c.text))?.text""",
                f"a final {role} caption by {name} matching /{pattern}/",
            )
        )

    def ring_toggled(self, kind: str) -> None:
        """Wait until the speaking ring of a tile of `kind` (agent, person, self) has gone on
        and then off again (the agent may still be finishing its last words)."""
        self.wait_for(
            f"""() => {{
                const changes = window.__speaking.filter((c) => c.kind === {kind!r});
                const on = changes.findIndex((c) => c.speaking);
                return on >= 0 && changes.slice(on).some((c) => !c.speaking);
            }}""",
            f"the speaking ring of the {kind} tile to go on and off",
            30,
        )

    def png(self, name: str) -> bytes:
        """A screenshot, also saved to SHOTS as room-<person>-<name>.png."""
        png = bytes(self.page.screenshot(full_page=False))
        SHOTS.mkdir(parents=True, exist_ok=True)
        (SHOTS / f"room-{self.name.lower()}-{name}.png").write_bytes(png)
        return png

    def png_while_agent_speaks(self) -> bytes:
        """A screenshot with the agent's tile ringed, if it speaks within a few seconds (the
        picture is documentation: no test fails on its timing)."""
        with contextlib.suppress(PlaywrightError):
            self.page.wait_for_function(
                "() => document.querySelector('.tile.speaking[data-kind=\"agent\"]')",
                timeout=15_000,
                polling=100,
            )
        return self.png("exchange")


@contextlib.contextmanager
def browser_with_mic(
    pw: Playwright, server: RunningServer, name: str, mic: Path | None
) -> Iterator[RoomPage]:
    """Chromium whose fake microphone loops `mic` (or beeps), on the playground page."""
    fake_mic = [f"--use-file-for-fake-audio-capture={mic}"] if mic else []
    browser: Browser = pw.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_FLAGS, *fake_mic]
    )
    try:
        context = browser.new_context(viewport={"width": 1180, "height": 860})
        context.add_init_script(INSTRUMENT)
        page = context.new_page()
        room_page = RoomPage(name, page, server)
        page.on("console", lambda m: room_page.console.append(f"[{m.type}] {m.text}"))
        page.on("pageerror", lambda e: room_page.console.append(f"[pageerror] {e}"))
        page.goto(f"{server.url}/?processing=0")
        yield room_page
        context.close()
    finally:
        browser.close()


def looped_speech(text: str, path: Path, voice: str, lead_s: float) -> Path:
    """Speech padded with silence to one loop of LOOP_S: `lead_s` of silence, then the words."""
    with wave.open(str(espeak_wav(text, path, voice=voice))) as speech:
        speech_s = speech.getnframes() / speech.getframerate()
    return espeak_wav(text, path, voice=voice, lead_s=lead_s, tail_s=LOOP_S - lead_s - speech_s)


def end_room(server: RunningServer, room_id: str) -> None:
    """DELETE the room with a dev token (loopback, dev mode)."""
    body = json.dumps({"scopes": ["rooms"]}).encode()
    request = urllib.request.Request(
        f"{server.url}/api/v1/tokens", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        token = json.load(response)["token"]
    delete = urllib.request.Request(
        f"{server.url}/api/v1/rooms/{room_id}",
        method="DELETE",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(delete, timeout=10):
        pass


def side_by_side(pw: Playwright, shots: list[tuple[str, bytes]], path: Path) -> None:
    """One PNG of the pages next to each other, drawn by a third (plain) Chromium page."""
    images = "".join(
        f'<figure><figcaption>{name}</figcaption><img src="data:image/png;base64,'
        f'{base64.b64encode(png).decode()}"></figure>'
        for name, png in shots
    )
    style = (
        "body{margin:0;display:flex;gap:12px;padding:12px;background:#888;font:14px sans-serif}"
        "figure{margin:0}figcaption{color:#fff;padding:0 0 6px}img{display:block}"
    )
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
    try:
        page = browser.new_page(viewport={"width": 2400, "height": 900})
        page.set_content(f"<style>{style}</style>{images}")
        page.screenshot(path=str(path), full_page=True)
    finally:
        browser.close()


# ----------------------------------------------------------------------------- the test
@pytest.mark.timeout(420)
def test_two_people_and_the_agent_on_the_room_page(
    pw: Playwright, room_server: RunningServer, speech_dir: Path
) -> None:
    alice_mic = looped_speech(QUESTION, speech_dir / "room-alice.wav", "en-us", ALICE_LEAD_S)
    bob_mic = looped_speech(REMARK, speech_dir / "room-bob.wav", "en-gb", BOB_LEAD_S)
    with (
        browser_with_mic(pw, room_server, "Alice", alice_mic) as alice,
        browser_with_mic(pw, room_server, "Bob", bob_mic) as bob,
    ):
        # Alice creates the room from the playground's Rooms card.
        alice.png("landing")
        alice.page.click("#create-room")
        alice.page.wait_for_url(lambda url: "?room=" in url, timeout=30_000)
        link = alice.page.input_value("#room-link")
        room_id = link.rsplit("room=", 1)[1]
        alice.page.goto(f"{link}&processing=0")  # the raw microphone, as for Bob
        alice.png("before-join")

        # Bob tries a room that does not exist: the page says so.
        bob.page.goto(f"{room_server.url}/?room=no-such-room&processing=0")
        bob.join()
        bob.wait_for(
            "() => !document.getElementById('status').hidden"
            " && /not found/.test(document.getElementById('status-text').textContent)",
            "the page to say the room was not found",
            15,
        )
        assert bob.state()["conn"] == "failed"
        bob.png("not-found")

        # Both join the real room, at about the same time: their microphones start now. Bob
        # sends his (fake) camera too.
        bob.page.goto(f"{link}&processing=0")
        bob.page.check("#room-camera")
        alice.join()
        bob.join()
        alice.wait_until_heard()
        bob.wait_until_heard()
        ice = {p.name: p.page.evaluate(ICE_REPORT) for p in (alice, bob)}
        print(f"\nICE (page -> Janus): {json.dumps(ice, indent=1)}")

        agent = alice.state()["agent"]
        for page, other in ((alice, "Bob"), (bob, "Alice")):
            names = {(t["kind"], t["name"]) for t in page.state()["tiles"]}
            assert {("agent", agent), ("person", other), ("self", page.name)} <= names, (
                f"{page.name}'s tiles: {names}{page.diagnostics()}"
            )
        alice.wait_for(
            "() => window.voxroomRoom.state().tiles.some((t) => t.name === 'Bob' && t.video)",
            "Bob's video on his tile",
            20,
        )

        # Everyone's speech is captioned on both pages, labelled with the speaker's name, and
        # the agent answers the question that named it.
        for page in (alice, bob):
            asked = page.caption("user", "Alice", "capital")
            remark = page.caption("user", "Bob", "tomorrow|meet")
            answer = page.caption("agent", agent, r"\w")
            print(f"{page.name} sees: Alice {asked!r}, Bob {remark!r}, {agent} {answer!r}")

        # The speaking ring went on and off: the other person's tile, the agent's, our own.
        for page in (alice, bob):
            for kind in ("person", "agent", "self"):
                page.ring_toggled(kind)

        # Typed chat reaches the agent, attributed to its sender, and everyone sees it.
        bob.page.fill("#room-chat-input", "Nova, please say hello to Alice.")
        bob.page.click("#room-chat-send")
        alice.caption("user", "Bob", "say hello to Alice")
        assert bob.page.input_value("#room-chat-input") == ""

        agent_states = {p.name: p.state()["agentState"] for p in (alice, bob)}
        assert all(s in ("listening", "thinking", "speaking") for s in agent_states.values()), (
            f"the agent's state is not shown: {agent_states}"
        )

        # The agent answers the typed message: the picture of both pages, as it speaks.
        shots = [(p.name, p.png_while_agent_speaks()) for p in (alice, bob)]
        side_by_side(pw, shots, SHOTS / "room-two-pages.png")

        # Bob leaves: Alice's page drops his tile and says so. He joins again.
        bob.page.click("#room-leave")
        alice.wait_for(
            "() => !window.voxroomRoom.state().tiles.some((t) => t.name === 'Bob')",
            "Bob's tile to go",
            20,
        )
        alice.wait_for(
            "() => [...document.querySelectorAll('#room-captions .room-note')]"
            ".some((note) => note.textContent === 'Bob left')",
            "a note that Bob left",
            20,
        )
        bob.join()
        bob.wait_until_heard()
        alice.wait_for(
            "() => window.voxroomRoom.state().tiles.some((t) => t.name === 'Bob')",
            "Bob's tile to come back",
            20,
        )

        # Ending the room: both pages say so.
        end_room(room_server, room_id)
        for page in (alice, bob):
            page.wait_for(
                "() => document.getElementById('room-conn').dataset.state === 'ended'",
                "the page to say the room ended",
                20,
            )
        errors = [line for p in (alice, bob) for line in p.console if "[pageerror]" in line]
        assert not errors, f"uncaught errors in the pages: {errors}"


def test_the_page_says_which_package_is_missing(pw: Playwright, room_server: RunningServer) -> None:
    # The server's 404 for a vendor file that is not installed (server/app.py, vendor_js).
    missing = {
        "error": "rooms need the Debian package libjs-janus-gateway: "
        "apt install libjs-janus-gateway"
    }
    with browser_with_mic(pw, room_server, "Carol", None) as carol:
        carol.page.route(
            "**/static/vendor/janus.js", lambda route: route.fulfill(status=404, json=missing)
        )
        carol.page.goto(f"{room_server.url}/?room=any")
        carol.join()
        text = carol.wait_for(
            "() => !document.getElementById('status').hidden"
            " && document.getElementById('status-text').textContent",
            "an error message",
            15,
        )
        assert "apt install libjs-janus-gateway" in text, text
        assert carol.state()["conn"] == "failed"
