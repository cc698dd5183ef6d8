"""A task carried out step by step: look at the page, decide (`decide`), check the action is
safe, ask for approval when confirmation is on, do it, and report. It ends when the chooser
says TERMINATE, when it was stopped, after `max_steps`, or after `max_no_progress` steps in a
row that changed nothing (an unusable answer, a refused or failed action, a page unchanged).

Everything around the loop is a hook (`TaskHooks`): the voice agent narrates, asks people to
approve, watches for "stop" and writes the audit trail there; the benchmark uses none.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from voxroom.browser.actions import Action
from voxroom.browser.chooser import Chooser
from voxroom.browser.controller import ActionResult, BrowserController
from voxroom.browser.decide import ChoiceSettings, Decision, decide
from voxroom.browser.elements import PageElement, PageState
from voxroom.browser.prompt import history_line
from voxroom.browser.ranking import Ranker
from voxroom.browser.safety import looks_secret

TaskStatus = Literal["done", "stopped", "step_limit", "no_progress", "failed"]
StepResult = Literal["done", "finished", "failed", "refused", "rejected", "invalid"]
Verdict = Literal["approve", "reject", "stop"]


@dataclass(frozen=True, slots=True)
class TaskLimits:
    max_steps: int = 15
    max_no_progress: int = 3
    choice: ChoiceSettings = field(default_factory=ChoiceSettings)


@dataclass(slots=True)
class Step:
    number: int
    state: PageState  # the page as the chooser saw it (with its screenshot, when taken)
    decision: Decision
    result: StepResult = "invalid"
    detail: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def action(self) -> Action | None:
        return self.decision.action

    @property
    def element(self) -> PageElement | None:
        return self.decision.element

    @property
    def secret(self) -> bool:
        """The action types something that must not be shown or logged in the clear."""
        action, element = self.action, self.element
        if action is None or action.kind != "TYPE":
            return False
        return (element is not None and element.sensitive) or looks_secret(action.value) is not None

    def shown_value(self) -> str:
        return "••••" if self.secret else (self.action.value if self.action else "")

    def narration(self) -> str:
        """What the agent says as it does it: "Clicking “Add to cart”."."""
        return self._say(gerund=True)

    def proposal(self) -> str:
        """What the agent asks approval for: "click “Add to cart”"."""
        return self._say(gerund=False)

    def _say(self, gerund: bool) -> str:
        action, element = self.action, self.element
        if action is None:
            return ""
        name = f"“{element.name_for_people()}”" if element is not None else ""
        value = "the secret" if self.secret else f"“{action.value}”"
        verb, rest = {
            "CLICK": (("Clicking", "click"), name),
            "TYPE": (("Typing", "type"), f"{value} into {name}"),
            "SELECT": (("Choosing", "choose"), f"{value} in {name}"),
            "PRESS ENTER": (("Pressing", "press"), "Enter"),
            "SCROLL DOWN": (("Scrolling", "scroll"), "down"),
            "SCROLL UP": (("Scrolling", "scroll"), "up"),
            "GO BACK": (("Going", "go"), "back"),
            "TERMINATE": (("That's", "stop: that's"), "done"),
        }[action.kind]
        return f"{verb[0]} {rest}." if gerund else f"{verb[1]} {rest}"


@dataclass(slots=True)
class TaskOutcome:
    status: TaskStatus
    steps: list[Step]
    reason: str = ""

    @property
    def summary(self) -> str:
        count = f"{len(self.steps)} step{'s' if len(self.steps) != 1 else ''}"
        return {
            "done": f"Done, in {count}.",
            "stopped": f"Stopped after {count}.",
            "step_limit": f"I gave up after {count}: the task is not finished.",
            "no_progress": f"I'm stuck after {count}: nothing I tried changed the page.",
            "failed": f"I could not do it: {self.reason}",
        }[self.status]


class TaskHooks:
    """What happens around each step. The defaults approve everything and say nothing."""

    async def narrate(self, step: Step) -> None:
        """The action is about to be done (after approval)."""

    async def confirm(self, step: Step) -> Verdict:
        """May this action be done? Asked before every action when confirmation is on."""
        return "approve"

    async def step_done(self, step: Step) -> None:
        """The step is over (`step.result`): log it, show it."""

    def should_stop(self) -> bool:
        """Checked between steps: someone said stop."""
        return False


class BrowserTask:
    def __init__(
        self,
        task: str,
        controller: BrowserController,
        ranker: Ranker,
        chooser: Chooser,
        hooks: TaskHooks | None = None,
        limits: TaskLimits = TaskLimits(),
        *,
        screenshots: bool = False,
        highlight_s: float = 0.0,
    ) -> None:
        self.task = task
        self.controller = controller
        self.ranker = ranker
        self.chooser = chooser
        self.hooks = hooks or TaskHooks()
        self.limits = limits
        self.screenshots = screenshots or chooser.vision
        self.highlight_s = highlight_s
        self.history: list[str] = []
        self.notes: list[str] = []  # what people said during the task
        self._excluded: dict[str, set[int]] = {}  # by URL: elements people said no to
        self._last: Step | None = None
        self._stop_now = False

    def correct(self, text: str, *, not_that: bool) -> None:
        """People said something during the task ("no, the other one"): the chooser sees it
        from the next step on; `not_that`: the last element acted on is not offered again
        while its page stays."""
        self.notes.append(text)
        last = self._last
        if not_that and last is not None and last.element is not None:
            self._excluded.setdefault(last.state.url, set()).add(last.element.id)

    async def run(self, start_url: str | None = None) -> TaskOutcome:
        if start_url:
            opened = await self.controller.goto(start_url)
            if not opened.ok:
                return TaskOutcome("failed", [], f"cannot open {start_url}: {opened.detail}")
        steps: list[Step] = []
        stalled = 0
        previous: str | None = None
        for number in range(1, self.limits.max_steps + 1):
            if self.hooks.should_stop():
                return TaskOutcome("stopped", steps)
            step = await self._step(number)
            steps.append(step)
            self._last = step
            await self.hooks.step_done(step)
            if step.result == "finished":
                return TaskOutcome("done", steps)
            if self._stop_now:
                return TaskOutcome("stopped", steps)
            # No progress: this step did nothing, or the page is as the last action left it.
            unchanged = step.state.fingerprint == previous
            previous = step.state.fingerprint
            stalled = stalled + 1 if step.result != "done" or unchanged else 0
            if stalled >= self.limits.max_no_progress:
                return TaskOutcome("no_progress", steps, step.detail)
        return TaskOutcome("step_limit", steps)

    async def _step(self, number: int) -> Step:
        started = time.monotonic()
        state = await self.controller.observe(screenshot=self.screenshots)
        observe_ms = (time.monotonic() - started) * 1e3
        image = await screenshot_part(state.screenshot) if self.chooser.vision else None
        decision = await decide(
            self.task,
            self.history,
            state,
            self.ranker,
            self.chooser,
            self.limits.choice,
            notes=self.notes,
            exclude=self._excluded.get(state.url, ()),
            screenshot_part=image,
        )
        step = Step(number, state, decision)
        step.timings = {"observe_ms": round(observe_ms, 1), "rank_ms": decision.rank_ms,
                        "choose_ms": decision.choose_ms}  # fmt: skip
        action = decision.action
        if action is None:
            step.detail = "; ".join(decision.problems) or "no element chosen"
            return self._timed(step, 0.0)
        if action.kind == "TERMINATE":
            step.result = "finished"
            await self.hooks.narrate(step)
            return self._timed(step, 0.0)
        if action.kind == "TYPE":
            refusal = self.controller.policy.typing(state.url, decision.element, action.value)
            if refusal is not None:
                step.result, step.detail = "refused", refusal.reason
                return self._timed(step, 0.0)
        shown = decision.element is not None and self.highlight_s > 0
        if shown:  # boxed while people are asked, and while it is said
            assert decision.element is not None
            await self.controller.highlight(decision.element, action.kind)
        verdict = await self.hooks.confirm(step)
        if verdict != "approve":
            step.result, step.detail = "rejected", f"not approved ({verdict})"
            self._stop_now = verdict == "stop"
            if decision.element is not None:
                self._excluded.setdefault(state.url, set()).add(decision.element.id)
            await self.controller.clear_highlight()
            return self._timed(step, 0.0)
        await self.hooks.narrate(step)
        if shown:
            await asyncio.sleep(self.highlight_s)  # people see what is about to happen
        acted = time.monotonic()
        result = await self.controller.perform(action, decision.element)
        self._apply(step, result)
        return self._timed(step, (time.monotonic() - acted) * 1e3)

    def _apply(self, step: Step, result: ActionResult) -> None:
        action = step.action
        assert action is not None
        if result.ok:
            step.result = "done"
            value = "••••" if step.secret else (result.detail or action.value)
            self.history.append(history_line(action.kind, step.element, value))
        else:
            step.result = "refused" if result.refused else "failed"
        step.detail = result.detail

    @staticmethod
    def _timed(step: Step, act_ms: float) -> Step:
        """`step_ms`: page ready → action done, the machine's time only (not the time people
        take to approve, nor the narration and highlight shown to them)."""
        step.timings["act_ms"] = round(act_ms, 1)
        step.timings["step_ms"] = round(sum(step.timings.values()), 1)
        return step


async def screenshot_part(png: bytes | None) -> dict[str, Any] | None:
    """A PNG screenshot as an image part for a vision model (decoded off the loop)."""
    if png is None:
        return None

    def convert() -> dict[str, Any] | None:
        import cv2

        from voxroom.media.vision import image_part

        image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
        return None if image is None else image_part(image, detail="high", max_side=1024)

    return await asyncio.to_thread(convert)
