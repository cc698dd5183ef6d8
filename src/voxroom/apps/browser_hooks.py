"""The browser agent's task hooks (`browser.task.TaskHooks`) bound to a call: each step is
narrated (captions and voice, and a caption bar on the live view), approved when
confirmation is on (a button in the web client, or "yes"/"no" said aloud), written to the
audit trail (screenshot file, candidates, prompt, raw output, action, result, the model's
`llm_request`/`llm_response` events) and shown to everyone as `browser_step` messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voxroom.audit import events as ev
from voxroom.browser.live import LiveView
from voxroom.browser.task import Step, TaskHooks, TaskOutcome, Verdict

if TYPE_CHECKING:
    from voxroom.agent.session import AgentSession

CONFIRM_TIMEOUT_S = 120.0  # no answer this long: the task stops
NARRATION_WAIT_S = 8.0  # the most a step waits for the previous narration to be heard
_YES = re.compile(r"^(?:yes|yeah|yep|yup|sure|ok|okay|go ahead|do it|approve|confirm|please do)\b")
_NO = re.compile(r"^(?:no|nope|don'?t|do not|not that|reject|wrong|the other)\b")
_STOP = re.compile(r"\b(?:stop|cancel|abort|halt|enough|never ?mind|hold on)\b")
MASK = "••••"


def words(text: str) -> str:
    return " ".join(re.sub(r"[^\w' ]+", " ", text.lower()).split())


def says_stop(text: str) -> bool:
    return bool(_STOP.search(words(text)))


def says_yes(text: str) -> bool:
    return bool(_YES.match(words(text)))


def says_no(text: str) -> bool:
    return bool(_NO.match(words(text)))


def mask(text: str, secret: str) -> str:
    return text.replace(secret, MASK) if secret else text


class CallHooks(TaskHooks):
    def __init__(
        self,
        session: AgentSession,
        task_id: int,
        turn_id: int,
        participant: str | None,
        live: LiveView | None,
        *,
        confirm: bool,
    ) -> None:
        self.session = session
        self.task_id = task_id
        self.turn_id = turn_id
        self.participant = participant
        self.live = live
        self.confirm_actions = confirm
        self.stop_requested = False
        self._pending: asyncio.Future[Verdict] | None = None
        self._llm_calls = 0

    # --- people ----------------------------------------------------------------------------
    def should_stop(self) -> bool:
        return self.stop_requested

    def stop(self) -> None:
        self.stop_requested = True
        self.answer("stop")

    @property
    def awaiting_answer(self) -> bool:
        return self._pending is not None and not self._pending.done()

    def answer(self, verdict: Verdict) -> bool:
        """Someone approved or refused the pending action (False: nothing was pending)."""
        if not self.awaiting_answer:
            return False
        assert self._pending is not None
        self._pending.set_result(verdict)
        return True

    async def confirm(self, step: Step) -> Verdict:
        if not self.confirm_actions:
            return "approve"
        action, element = step.action, step.element
        assert action is not None
        self._pending = asyncio.get_running_loop().create_future()
        question = f"Shall I {step.proposal()}?"
        self.session.send(
            {
                "type": "browser_confirm_request",
                "task_id": self.task_id,
                "step": step.number,
                "action": action.kind,
                "element": element.name_for_people() if element else None,
                "value": step.shown_value(),
                "text": question,
            }
        )
        self._caption(f"Step {step.number}: {question} (waiting for approval)")
        await self.session.say(f"{question} Say yes or no.")
        try:
            return await asyncio.wait_for(self._pending, CONFIRM_TIMEOUT_S)
        except TimeoutError:
            await self.session.say("No answer, so I'll stop here.")
            self.stop_requested = True
            return "stop"
        finally:
            self._pending = None

    async def narrate(self, step: Step) -> None:
        text = step.narration()
        self._caption(f"Step {step.number}: {text}")
        await self.wait_until_quiet()
        await self.session.say(text)

    async def wait_until_quiet(self) -> None:
        """Until the agent's last words are heard (or `NARRATION_WAIT_S`): the voice keeps
        pace with the browser, and people can say "stop" between steps."""
        deadline = time.monotonic() + NARRATION_WAIT_S
        # The voice has no "idle" event to wait on; a 100 ms poll is precise enough here.
        while self.session.voice.busy and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)

    def _caption(self, text: str) -> None:
        if self.live is not None:
            self.live.set_caption(text)

    # --- record ------------------------------------------------------------------------------
    def task_started(self, text: str, url: str | None, allowed: list[str]) -> None:
        self.emit(
            ev.BrowserTaskStarted(
                turn_id=self.turn_id, task_id=self.task_id, task=text, url=url,
                confirm=self.confirm_actions, allowed=allowed,
            )
        )  # fmt: skip
        self._send_task(text, "running", 0, "")

    def task_ended(self, outcome: TaskOutcome) -> None:
        steps = len(outcome.steps)
        self.emit(
            ev.BrowserTaskEnded(
                turn_id=self.turn_id, task_id=self.task_id, status=outcome.status, steps=steps,
                reason=outcome.reason,
            )
        )  # fmt: skip
        self._send_task(None, outcome.status, steps, outcome.summary)
        self._caption(outcome.summary)

    def _send_task(self, text: str | None, status: str, steps: int, summary: str) -> None:
        message = {"type": "browser_task", "task_id": self.task_id, "status": status,
                   "steps": steps, "summary": summary}  # fmt: skip
        if text is not None:
            message["task"] = text
        self.session.send(message)

    async def step_done(self, step: Step) -> None:
        secret = step.action.value if step.secret and step.action else ""
        screenshot, digest = await self._save_screenshot(step)
        for round_ in step.decision.rounds:
            self._log_llm(round_.reply, secret)
        last = step.decision.rounds[-1] if step.decision.rounds else None
        action = self._action(step)
        self.emit(
            ev.BrowserStepTaken(
                turn_id=self.turn_id,
                task_id=self.task_id,
                step=step.number,
                url=step.state.url,
                title=step.state.title,
                screenshot=screenshot,
                screenshot_sha256=digest,
                candidates=[
                    {"id": r.element.id, "text": r.element.describe(), "score": r.score}
                    for r in step.decision.ranked[:24]
                ],
                prompt=mask(last.question.text(), secret) if last else "",
                raw_output=mask(last.reply.raw, secret) if last else "",
                action=action,
                result=step.result,
                detail=step.detail,
                problems=step.decision.problems,
                timings=step.timings,
            )
        )
        self.session.send(
            {
                "type": "browser_step",
                "task_id": self.task_id,
                "step": step.number,
                "url": step.state.url,
                "title": step.state.title,
                "action": action,
                "result": step.result,
                "detail": step.detail,
                "narration": step.narration(),
            }
        )

    def _action(self, step: Step) -> dict[str, Any] | None:
        if step.action is None:
            return None
        element = step.element
        return {
            "kind": step.action.kind,
            "element": element.id if element else None,
            "text": element.name_for_people() if element else None,
            "value": step.shown_value(),
        }

    def _log_llm(self, reply: Any, secret: str) -> None:
        if not reply.messages:  # a scripted chooser: no model was asked
            return
        self.emit(
            ev.LLMRequested(
                turn_id=self.turn_id,
                provider=reply.provider,
                model=reply.model,
                messages=[m.as_dict() for m in reply.messages],
                parameters={"purpose": "browser_step", "task_id": self.task_id},
                step=self._llm_calls,
            )
        )
        self.emit(
            ev.LLMResponded(
                turn_id=self.turn_id,
                provider=reply.provider,
                model=reply.model,
                text=mask(reply.raw, secret),
                finish_reason="error" if reply.error else "stop",
                prompt_tokens=reply.usage.prompt_tokens,
                completion_tokens=reply.usage.completion_tokens,
                ttft_ms=reply.ttft_ms,
                duration_ms=reply.duration_ms,
                step=self._llm_calls,
            )
        )
        self._llm_calls += 1

    async def _save_screenshot(self, step: Step) -> tuple[str | None, str | None]:
        png, folder = step.state.screenshot, self.session.files_dir
        if png is None:
            return None, None
        digest = hashlib.sha256(png).hexdigest()
        if folder is None:
            return None, digest
        name = f"browser-task{self.task_id}-step{step.number:03d}.png"

        def write(path: Path) -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png)

        with contextlib.suppress(OSError):  # a full disk must not stop the task
            await asyncio.to_thread(write, folder / name)
            return name, digest
        return None, digest

    def emit(self, event: ev.TurnScoped) -> None:
        event.participant = self.participant
        self.session.log.emit(event)
