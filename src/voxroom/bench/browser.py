"""`voxroom bench browser`: the browser agent's element choice on the test sites, scored the
Mind2Web way, for the configured LLM (the packaged Gemma, a GGUF, any OpenAI-compatible model)
or, with `--oracle`, a scripted chooser that answers every question with the gold step.

For each task (`browser_tasks`) in a fresh browser visit: at each gold step the page is
observed, its elements ranked and the chooser asked (`browser.decide`, as the agent does);
the answer is scored against the gold step; then the *gold* action is carried out, so every
step is judged on the page it was meant for (Mind2Web's protocol, here on live pages). After
the last step the site's state is checked: that the gold sequence did the task is the
harness's own sanity check (`gold_replay_ok`).

- `element_accuracy`: steps whose chosen element is the gold one (none for page actions);
- `step_success_rate`: element and operation (TYPE/SELECT value) both right;
- `task_success_rate`: tasks whose every step succeeded;
- `step_ms`: page ready → action done (observe, rank, choose, act);
- `llm_tokens_per_task`, `cost_per_task`: from the model's reported usage, priced with the
  audit price table (`audit.cost`); an endpoint that reports none (llama.cpp's server, when
  streaming) counts in `llm_calls_without_usage` instead;
- `ranker_recall_at_k`: gold element among the first `k`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rich.console import Console
from rich.table import Table

from voxroom.audit.cost import PriceTable
from voxroom.audit.events import LLMResponded
from voxroom.bench.browser_tasks import TASKS, GoldStep, TaskSpec
from voxroom.bench.latency import percentile
from voxroom.browser.actions import PAGE_ACTIONS, Action
from voxroom.browser.chooser import Chooser, LLMChooser, Reply, ScriptedChooser
from voxroom.browser.controller import BrowserController, BrowserOptions
from voxroom.browser.decide import ChoiceSettings, Decision, decide
from voxroom.browser.prompt import Question, history_line
from voxroom.browser.ranking import Ranker, default_ranker
from voxroom.browser.safety import AllowList, SafetyPolicy
from voxroom.browser.sites import DemoSites
from voxroom.browser.task import screenshot_part

LLM_DEADLINE_S = 120.0
# Asked once before scoring, so a local model's prompt cache holds the fixed prefix (the
# agent's second step onwards is in the same position).
WARM_UP = Question("warm up", [], "about:blank", "", [])


class Oracle:
    """Answers with the gold step: the gold element's letter when it is among the options
    (else "none of these": the next candidates), the gold page action with the last letter.
    `follow`: the gold step is the one after those done so far (the question's history): the
    agent's own loop drives, and an action not done is not skipped; else the harness sets
    `index`."""

    def __init__(
        self, controller: BrowserController, steps: tuple[GoldStep, ...], follow: bool = True
    ) -> None:
        self.controller = controller
        self.steps = steps
        self.follow = follow
        self.index = 0

    @property
    def chooser(self) -> ScriptedChooser:
        return ScriptedChooser(self.answer)

    async def answer(self, question: Question) -> str:
        index = len(question.history) if self.follow else self.index
        gold = self.steps[min(index, len(self.steps) - 1)]
        if gold.kind in PAGE_ACTIONS:
            return f"{question.none_letter}. {gold.kind}"
        gold_id = await self.controller.element_id(gold.target or "")
        for letter, element in question.lettered():
            if element.id == gold_id:
                return f"{letter}. {gold.kind} {gold.value}".strip()
        return f"{question.none_letter}."


@dataclass(slots=True)
class TaskScore:
    id: str
    steps: int = 0
    elements_right: int = 0
    steps_right: int = 0
    recalled: int = 0  # element steps whose gold element was ranked in the first k
    element_steps: int = 0
    unusable_answers: int = 0
    llm_errors: int = 0  # calls that failed or passed the deadline
    llm_calls: int = 0
    usage_unreported: int = 0  # calls whose endpoint reported no token counts
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    step_ms: list[float] = field(default_factory=list)
    gold_ok: bool = True
    completed: bool = False
    first_wrong: str | None = None  # what the chooser said at the first wrong step

    @property
    def success(self) -> bool:
        return self.steps > 0 and self.steps_right == self.steps

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "steps": self.steps,
            "elements_right": self.elements_right,
            "steps_right": self.steps_right,
            "success": self.success,
            "gold_replay_ok": self.gold_ok and self.completed,
            "llm_tokens": self.prompt_tokens + self.completion_tokens,
            "first_wrong": self.first_wrong,
        }


def _usage(replies: list[Reply], prices: PriceTable, score: TaskScore) -> None:
    for reply in replies:
        if not reply.messages:  # a script, not a model
            continue
        score.llm_calls += 1
        if reply.usage.prompt_tokens is None and reply.error is None:
            score.usage_unreported += 1  # e.g. llama.cpp's server streams no usage
        prompt = reply.usage.prompt_tokens or 0
        completion = reply.usage.completion_tokens or 0
        score.prompt_tokens += prompt
        score.completion_tokens += completion
        event = LLMResponded(
            turn_id=0,
            provider=reply.provider,
            model=reply.model,
            text=reply.raw,
            finish_reason="stop",
            prompt_tokens=prompt,
            completion_tokens=completion,
            duration_ms=reply.duration_ms,
        )
        score.cost += prices.usage_of(event).cost


def _judge(decision: Decision, gold: GoldStep, gold_id: int | None) -> tuple[bool, bool]:
    action = decision.action
    if action is None:
        return False, False
    predicted = None if action.kind in PAGE_ACTIONS else action.element
    element_right = predicted == gold_id
    gold_element = next((r.element for r in decision.ranked if r.element.id == gold_id), None)
    return element_right, element_right and gold.op_matches(action, gold_element)


async def score_task(
    spec: TaskSpec,
    sites_url: str,
    controller: BrowserController,
    ranker: Ranker,
    chooser: Chooser,
    settings: ChoiceSettings,
    prices: PriceTable,
    oracle: Oracle | None = None,
) -> TaskScore:
    score = TaskScore(spec.id)
    await controller.reset()
    opened = await controller.goto(sites_url + spec.start)
    if not opened.ok:
        score.gold_ok = False
        return score
    history: list[str] = []
    for index, gold in enumerate(spec.steps):
        started = time.monotonic()
        state = await controller.observe(screenshot=chooser.vision)
        observed = time.monotonic()
        gold_id = await controller.element_id(gold.target) if gold.target else None
        gold_element = state.element(gold_id) if gold_id is not None else None
        if oracle is not None:
            oracle.index = index
        image = await screenshot_part(state.screenshot) if chooser.vision else None
        decided = time.monotonic()
        decision = await decide(
            spec.task, history, state, ranker, chooser, settings, screenshot_part=image
        )
        decide_s = time.monotonic() - decided
        element_right, step_right = _judge(decision, gold, gold_id)
        score.steps += 1
        score.elements_right += element_right
        score.steps_right += step_right
        score.unusable_answers += decision.action is None
        score.llm_errors += sum(1 for r in decision.rounds if r.reply.error)
        if gold_id is not None:
            score.element_steps += 1
            top = [r.element.id for r in decision.ranked[: settings.top_k]]
            score.recalled += gold_id in top
        if not step_right and score.first_wrong is None:
            said = [r.reply.raw for r in decision.rounds]
            score.first_wrong = f"step {index + 1} ({gold.kind}): {said!r}"[:200]
        _usage([r.reply for r in decision.rounds], prices, score)
        acted = time.monotonic()
        if gold.kind != "TERMINATE":  # the gold action, whatever was chosen (teacher forcing)
            result = await controller.perform(Action(gold.kind, gold_id, gold.value), gold_element)
            score.gold_ok &= result.ok
        done = time.monotonic()
        machine_s = (observed - started) + decide_s + (done - acted)
        score.step_ms.append(machine_s * 1e3)
        history.append(history_line(gold.kind, gold_element, gold.value))
    site_state = await controller.evaluate("() => fetch('/__state').then((r) => r.json())")
    score.completed = bool(spec.check(site_state, controller.page.url))
    return score


def _llm_label(models: Any) -> str:
    if "://" in models.llm:
        return f"{models.llm} ({models.llm_model_name})"
    return str(models.llm)


async def run(
    use_oracle: bool,
    *,
    vision: bool = False,
    only: list[str] | None = None,
    settings: ChoiceSettings | None = None,
) -> dict[str, Any]:
    from voxroom.config import VoxroomConfig

    tasks = [t for t in TASKS if not only or t.id in only]
    if not tasks:
        raise ValueError(f"no such task; tasks are: {', '.join(t.id for t in TASKS)}")
    config = VoxroomConfig.from_env()
    prices = PriceTable.load(config.audit.prices)
    model: Chooser | None = None
    if use_oracle:
        # The oracle sees every candidate, however far down the ranking: it tests plumbing.
        settings, label = ChoiceSettings(top_k=8, max_rounds=64), "oracle"
    else:
        from voxroom.providers.factory import load_llm
        from voxroom.providers.resilience import RetryPolicy

        settings, label = settings or ChoiceSettings(), _llm_label(config.models)
        # A generous deadline: a busy machine's slow answer is scored, not lost (step_ms
        # shows the time). The agent itself keeps the configured 15 s.
        retry = RetryPolicy(first_result_timeout_s=LLM_DEADLINE_S, attempts=1)
        llm = await asyncio.to_thread(
            functools.partial(load_llm, config.models, retry, request_timeout_s=LLM_DEADLINE_S)
        )
        model = LLMChooser(llm, vision=vision, timeout_s=LLM_DEADLINE_S)
        await model.answer(WARM_UP)  # the fixed instructions and examples, evaluated once
    sites = DemoSites()
    url = await sites.start()
    policy = SafetyPolicy(AllowList([url.split("//", 1)[1]]))
    controller = BrowserController(policy, BrowserOptions(resolve_hostnames=False))
    ranker = default_ranker()
    scores: list[TaskScore] = []
    try:
        await controller.start()
        for spec in tasks:
            oracle = Oracle(controller, spec.steps, follow=False) if use_oracle else None
            chooser = oracle.chooser if oracle is not None else model
            assert chooser is not None
            scores.append(
                await score_task(spec, url, controller, ranker, chooser, settings, prices, oracle)
            )
    finally:
        await controller.close()
        await sites.close()
    return report(scores, label, ranker.name, settings, vision, prices.currency)


def report(
    scores: list[TaskScore],
    llm: str,
    ranker: str,
    settings: ChoiceSettings,
    vision: bool,
    currency: str,
) -> dict[str, Any]:
    steps = sum(s.steps for s in scores)
    element_steps = sum(s.element_steps for s in scores)
    times = [ms for s in scores for ms in s.step_ms]
    tasks = len(scores)
    return {
        "date": date.today().isoformat(),
        "llm": llm,
        "vision": vision,
        "ranker": ranker,
        "top_k": settings.top_k,
        "max_rounds": settings.max_rounds,
        "tasks": tasks,
        "steps": steps,
        "element_accuracy": _rate(sum(s.elements_right for s in scores), steps),
        "step_success_rate": _rate(sum(s.steps_right for s in scores), steps),
        "task_success_rate": _rate(sum(s.success for s in scores), tasks),
        "step_ms": {"p50": percentile(times, 0.5), "p90": percentile(times, 0.9)}
        if times
        else {"p50": math.nan, "p90": math.nan},
        "llm_tokens_per_task": round(
            sum(s.prompt_tokens + s.completion_tokens for s in scores) / max(1, tasks), 1
        ),
        "cost_per_task": round(sum(s.cost for s in scores) / max(1, tasks), 6),
        "currency": currency,
        "ranker_recall_at_k": _rate(sum(s.recalled for s in scores), element_steps),
        "unusable_answer_rate": _rate(sum(s.unusable_answers for s in scores), steps),
        "llm_errors": sum(s.llm_errors for s in scores),
        "llm_calls": sum(s.llm_calls for s in scores),
        # Calls whose tokens the endpoint did not report: not in the token and cost figures.
        "llm_calls_without_usage": sum(s.usage_unreported for s in scores),
        "gold_replay_ok": all(s.gold_ok and s.completed for s in scores),
        "per_task": [s.summary() for s in scores],
    }


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 3) if whole else 0.0


def run_browser_bench(
    oracle: bool, *, vision: bool = False, only: list[str] | None = None
) -> dict[str, Any]:
    return asyncio.run(run(oracle, vision=vision, only=only))


def print_report(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2))
        return
    table = Table("figure", "value", title=f"browser agent — {result['llm']}")
    for key in ("tasks", "steps", "element_accuracy", "step_success_rate", "task_success_rate",
                "ranker_recall_at_k", "unusable_answer_rate", "llm_tokens_per_task",
                "cost_per_task", "gold_replay_ok"):  # fmt: skip
        table.add_row(key, str(result[key]))
    table.add_row("step_ms p50 / p90", f"{result['step_ms']['p50']} / {result['step_ms']['p90']}")
    Console().print(table)
    tasks = Table("task", "steps right", "success", "first wrong step")
    for task in result["per_task"]:
        tasks.add_row(
            task["id"],
            f"{task['steps_right']}/{task['steps']}",
            str(task["success"]),
            task["first_wrong"] or "",
        )
    Console().print(tasks)
