"""Browser-action agent: say or type a task ("search the catalogue for a blue kettle under 40
euros and add it to the cart") and it does it in a headless browser, step by step, while
everyone in the call watches the browser as the agent's video and hears what it is doing.
Say "stop" between steps, or "no, the other one"; with confirmation on, each action waits for
a yes (said, or the button in the web client). Method: SeeAct (`voxroom.browser`).

    voxroom dev --agent browser        (this class; in a room: {"agent": "browser"})

Without settings it browses the local test sites it serves itself on 127.0.0.1 (a shop,
forms, a train booking). Settings, from the environment or a subclass:
- `VOXROOM_BROWSER_START_URL` / `start_url`: where tasks start (its site is allowed);
- `VOXROOM_BROWSER_ALLOW` / `allowed`: more domains, comma-separated (`example.com`,
  `*.example.com`, `host:port`); navigation anywhere else is refused;
- `VOXROOM_BROWSER_OPEN=1` / `open_browsing`: navigate anywhere, but type secrets only on
  allowed sites;
- `VOXROOM_BROWSER_CONFIRM=1` / `confirm_actions`: ask before every action;
- `VOXROOM_BROWSER_VISION=1` / `vision`: send a screenshot with each question (for models
  that see images).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from typing import Any
from urllib.parse import urlsplit

from voxroom import Agent, UserTurn
from voxroom.apps.browser_hooks import CallHooks, says_no, says_stop, says_yes
from voxroom.browser.chooser import Chooser, LLMChooser
from voxroom.browser.controller import BrowserController
from voxroom.browser.live import LiveView
from voxroom.browser.ranking import default_ranker
from voxroom.browser.safety import AllowList, SafetyPolicy
from voxroom.browser.sites import DemoSites
from voxroom.browser.task import BrowserTask, TaskLimits, TaskOutcome
from voxroom.transport.base import ParticipantInfo

log = logging.getLogger(__name__)
_URL = re.compile(r"\bhttps?://[^\s\"'<>]+", re.I)


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes", "on")


class BrowserAgent(Agent):
    name = "browser agent"
    greeting = "Hi! Tell me what to do in the browser, and watch me do it."
    uses_video = True  # the browser's screen is the agent's video
    start_url: str | None = None
    allowed: tuple[str, ...] = ()
    open_browsing = False
    confirm_actions = False
    vision = False
    limits = TaskLimits()
    highlight_s = 0.6  # the box around the element is shown this long before acting

    def __init__(self) -> None:
        self.confirm = _flag("VOXROOM_BROWSER_CONFIRM", self.confirm_actions)
        self.browser: BrowserController | None = None
        self.live: LiveView | None = None
        self.home = ""
        self._sites: DemoSites | None = None
        self._ready: asyncio.Task[str] | None = None  # the browser starting: its home URL
        self._work: asyncio.Task[None] | None = None  # the task being carried out
        self._running = False
        self._task: BrowserTask | None = None
        self._hooks: CallHooks | None = None
        self._count = 0
        self._ranker = default_ranker()

    # --- the call ---------------------------------------------------------------------------
    async def on_enter(self) -> None:
        self._ready = asyncio.create_task(self._open_browser())
        await super().on_enter()

    async def on_participant_joined(self, participant: ParticipantInfo) -> None:
        if self.home:  # else they get it once the browser is up
            self.session.send(self._hello(), to=[participant.identity])

    def _hello(self) -> dict[str, Any]:
        allowed = list(self.browser.policy.allow.entries) if self.browser else []
        return {"type": "browser", "confirm": self.confirm, "allowed": allowed, "home": self.home}

    async def on_user_turn(self, turn: UserTurn) -> None:
        asked = turn.respond
        turn.respond = False  # it answers by doing, and says what it does
        hooks, task = self._hooks, self._task
        if hooks is not None and self._busy:  # one task at a time: this is about it
            if says_stop(turn.text):
                hooks.stop()
                await self.session.say("Stopping.")
            elif hooks.awaiting_answer and (says_yes(turn.text) or says_no(turn.text)):
                hooks.answer("approve" if says_yes(turn.text) else "reject")
            elif asked and task is not None:
                task.correct(turn.text, not_that=says_no(turn.text))
                await self.session.say("Got it.")
            return
        if asked:
            self._start(turn)

    async def on_app_message(self, sender: ParticipantInfo | None, message: dict[str, Any]) -> bool:
        kind = message.get("type")
        if kind == "browser_confirm":
            if self._hooks is not None:
                self._hooks.answer("approve" if message.get("approve") is True else "reject")
            return True
        if kind == "browser_stop":
            if self._hooks is not None and self._busy:
                self._hooks.stop()
            return True
        if kind == "browser_settings":
            self.confirm = bool(message.get("confirm", self.confirm))
            if self._hooks is not None:
                self._hooks.confirm_actions = self.confirm
            self.session.send(self._hello())
            return True
        return False

    async def on_exit(self) -> None:
        for task in (self._work, self._ready):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        for closing in (self.live, self.browser, self._sites):
            if closing is not None:
                with contextlib.suppress(Exception):
                    await closing.close()

    def chooser(self) -> Chooser:
        """Who picks each action (override to script it, or to use another model)."""
        vision = _flag("VOXROOM_BROWSER_VISION", self.vision)
        return LLMChooser(self.session.models.llm, vision=vision)

    # --- the browser ------------------------------------------------------------------------
    async def _open_browser(self) -> str:
        home = os.environ.get("VOXROOM_BROWSER_START_URL") or self.start_url
        if not home:
            self._sites = DemoSites()
            home = await self._sites.start() + "/"
        extra = os.environ.get("VOXROOM_BROWSER_ALLOW", "").split(",")
        allow = AllowList([urlsplit(home).netloc, *self.allowed, *extra])
        open_browsing = _flag("VOXROOM_BROWSER_OPEN", self.open_browsing)
        self.browser = BrowserController(SafetyPolicy(allow, open_browsing=open_browsing))
        await self.browser.start()
        if (video := self.session.transport.video_out) is not None:
            self.live = LiveView(video)
            await self.live.start(self.browser.context, self.browser.page)
        await self.browser.goto(home)
        self.home = home
        # To each person in the call, as to those who join later: the room's direct channel
        # is open before they publish, where a broadcast on the agent's feed is lost for
        # someone whose channel to it is still opening (a room test missed it this way).
        self.session.send(self._hello(), to=sorted(self.session.speakers))
        # Load the embedding model now, not at the first step.
        await self._ranker.rank(home, (await self.browser.observe()).elements)
        return home

    @property
    def _busy(self) -> bool:
        """A task is being carried out (its closing words may still be playing after)."""
        return self._running

    def _start(self, turn: UserTurn) -> None:
        self._count += 1
        self._running, self._task = True, None
        who = turn.speaker.identity if turn.speaker else None
        self._hooks = CallHooks(
            self.session, self._count, turn.turn_id, who, self.live, confirm=self.confirm
        )
        # Owned here (cancelled in on_exit); each task's work awaits the one before, which
        # may still be saying how it ended.
        self._work = asyncio.create_task(self._carry_out(turn.text, self._hooks, self._work))

    async def _carry_out(
        self, text: str, hooks: CallHooks, previous: asyncio.Task[None] | None
    ) -> None:
        try:
            outcome = await self._run_task(text, hooks, previous)
        finally:
            self._running = False
        if outcome is not None:
            await hooks.wait_until_quiet()
            await self.session.say(outcome.summary)

    async def _run_task(
        self, text: str, hooks: CallHooks, previous: asyncio.Task[None] | None
    ) -> TaskOutcome | None:
        if previous is not None:
            with contextlib.suppress(Exception):
                await previous
        assert self._ready is not None
        try:
            home = await asyncio.shield(self._ready)
        except Exception as exc:
            log.exception("browser agent: the browser did not start")
            await self.session.say("Sorry, I have no browser here.")
            self.session.on_error(f"browser unavailable: {exc}", component="agent")
            return None
        assert self.browser is not None
        url = (m.group().rstrip(".,;") if (m := _URL.search(text)) else None) or (
            home if self.browser.page.url in ("", "about:blank") else None
        )
        task = BrowserTask(
            text,
            self.browser,
            self._ranker,
            self.chooser(),
            hooks,
            self.limits,
            screenshots=self.session.files_dir is not None,
            highlight_s=self.highlight_s,
        )
        self._task = task
        hooks.task_started(text, url, list(self.browser.policy.allow.entries))
        await self.session.say("On it.")
        try:
            outcome = await task.run(url)
        except Exception as exc:  # the browser crashed: say so, keep the call
            log.exception("browser agent: task failed")
            outcome = TaskOutcome("failed", [], f"the browser failed ({exc})")
        hooks.task_ended(outcome)
        return outcome
