"""`voxroom bench answers`: are the agent's answers right, varied in a long call, and are its
tools used only when asked? Typed turns through the real engine with the configured LLM
(`answers_session`), scored by `answers_score` on the set in `answers_set`:

- `accuracy`, `accuracy_holdout`: general-knowledge and everyday questions to the default
  assistant, ten to a session (a user asks several things in one call), over the whole set
  and over the half nobody tuned prompts or settings on; `answer_ms`: the turn arrived → the
  first sentence of the answer ready to speak (p50, p90);
- `repeat_rate`: long sessions of everyday remarks on changing topics, replies identical to
  an earlier one of the same session;
- `tool_precision`, `tool_recall`, `answer_matches_tool_result` (and `tool_arguments_right`):
  the shipped concierge, taxi requests among questions its per-turn context answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from voxroom.agent.agent import Agent
from voxroom.agent.tools import agent_tools
from voxroom.agent.words import normalize
from voxroom.apps.assistant import Assistant
from voxroom.apps.concierge import Concierge
from voxroom.bench.answers_score import ToolOutcome, is_right, repeat_rate, tool_scores
from voxroom.bench.answers_session import Answer, TypedSession, typed_models
from voxroom.bench.answers_set import HOLDOUT, REMARKS, TOOL_TURNS, TUNING, Question, ToolTurn
from voxroom.bench.app_rooms import machine
from voxroom.bench.latency import percentile
from voxroom.config import VoxroomConfig
from voxroom.providers.factory import ModelSet, load_llm

TARGETS: dict[str, float] = {
    "accuracy": 0.75,
    "accuracy_holdout": 0.75,
    "repeat_rate": 0.05,
    "tool_precision": 1.0,
    "tool_recall": 0.9,
    "answer_matches_tool_result": 0.95,
}
QUESTIONS_PER_SESSION = 10
LONG_SESSIONS, LONG_TURNS = 2, 60
QUICK = {"questions": 10, "long_turns": 20, "tool_turns": 8}
log = logging.getLogger(__name__)


async def _conversation(
    name: str, agent: Agent, models: ModelSet, config: VoxroomConfig, turns: Sequence[str]
) -> list[Answer]:
    started = time.monotonic()
    async with TypedSession(name, agent, models, config) as chat:
        answers = [await chat.ask(text) for text in turns]
    log.info("%s: %d turns in %.0f s", name, len(turns), time.monotonic() - started)
    return answers


async def _questions(
    half: str, questions: Sequence[Question], models: ModelSet, config: VoxroomConfig
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for start in range(0, len(questions), QUESTIONS_PER_SESSION):
        asked = questions[start : start + QUESTIONS_PER_SESSION]
        name = f"answers-{half}-{start // QUESTIONS_PER_SESSION}"
        answers = await _conversation(name, Assistant(), models, config, [q.text for q in asked])
        for question, answer in zip(asked, answers, strict=True):
            results.append(
                {
                    "half": half,
                    "question": question.text,
                    "accept": list(question.accept),
                    "reply": answer.text,
                    "right": is_right(answer.text, question.accept),
                    "answer_ms": answer.first_sentence_ms,
                    "session": name,
                    "failed": answer.failed,
                    "retries": answer.retries,
                }
            )
    return results


async def _long_sessions(
    sessions: int, turns: int, models: ModelSet, config: VoxroomConfig
) -> list[dict[str, Any]]:
    results = []
    for index in range(sessions):
        # Each session its own order of the remarks (a rotation), every remark at most once.
        order = REMARKS[index * 7 :] + REMARKS[: index * 7]
        said = order[:turns]
        name = f"answers-long-{index}"
        answers = await _conversation(name, Assistant(), models, config, said)
        replies = [a.text for a in answers]
        seen: set[str] = set()
        repeated = []
        for turn, reply in enumerate(replies):
            if normalize(reply) in seen:
                repeated.append({"turn": turn, "said": said[turn], "reply": reply})
            seen.add(normalize(reply))
        results.append(
            {
                "session": name,
                "turns": len(replies),
                "repeat_rate": round(repeat_rate(replies), 3),
                "distinct_replies": len(seen),
                "repeats": repeated,
                "answer_ms_p50": _p50([a.first_sentence_ms for a in answers]),
                "failed": sum(a.failed is not None for a in answers),
                "retried": sum(bool(a.retries) for a in answers),
            }
        )
    return results


def _arguments_right(turn: ToolTurn, arguments: str) -> bool:
    try:
        given = json.loads(arguments)
    except json.JSONDecodeError:
        return False
    if not isinstance(given, dict):
        return False
    words = f" {normalize(' '.join(str(v) for v in given.values()))} "
    wanted = [turn.time or "", turn.destination or ""]
    return all(f" {normalize(w)} " in words for w in wanted if w)


async def _tool_turns(
    turns: Sequence[ToolTurn], models: ModelSet, config: VoxroomConfig
) -> tuple[list[ToolOutcome], list[dict[str, Any]]]:
    answers = await _conversation(
        "answers-tools", Concierge(), models, config, [t.text for t in turns]
    )
    outcomes, rows = [], []
    known = set(agent_tools(Concierge()))
    for turn, answer in zip(turns, answers, strict=True):
        # A call runs one of the app's tools; a refused one ran nothing, nor did a call of a
        # tool the app does not have (the model is told so; counted apart, as unknown).
        ran = [t for t in answer.tools if not t.refused and t.name in known]
        outcome = ToolOutcome(
            asked=turn.tool,
            called=tuple(t.name for t in ran),
            results=tuple(t.output for t in ran if not t.error),
            reply=answer.text,
        )
        outcomes.append(outcome)
        rows.append(
            {
                "said": turn.text,
                "asked": turn.tool,
                "calls": [
                    {"name": t.name, "arguments": t.arguments, "output": t.output} for t in ran
                ],
                "refused": [
                    {"name": t.name, "arguments": t.arguments, "why": t.output}
                    for t in answer.tools
                    if t.refused
                ],
                "unknown": [
                    {"name": t.name, "arguments": t.arguments}
                    for t in answer.tools
                    if t.name not in known
                ],
                "arguments_right": (
                    any(_arguments_right(turn, t.arguments) for t in ran if t.name == turn.tool)
                    if turn.tool
                    else None
                ),
                "reply": answer.text,
                "answer_ms": answer.first_sentence_ms,
                "failed": answer.failed,
                "retries": answer.retries,
            }
        )
    return outcomes, rows


def _p50(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return percentile(known, 0.5) if known else None


def _share(flags: Sequence[bool]) -> float | None:
    return round(sum(flags) / len(flags), 3) if flags else None


async def _run(quick: bool, tuning_only: bool, config: VoxroomConfig) -> dict[str, Any]:
    from voxroom.providers.silero import SileroVAD

    llm = load_llm(config.models)  # what `voxroom dev` would load (VOXROOM_MODELS__LLM, --llm)
    models = typed_models(llm, SileroVAD())
    tuning, holdout = list(TUNING), ([] if tuning_only else list(HOLDOUT))
    long_sessions, long_turns, tool_turns = LONG_SESSIONS, LONG_TURNS, list(TOOL_TURNS)
    if quick:
        tuning, holdout = tuning[: QUICK["questions"]], holdout[: QUICK["questions"]]
        long_sessions, long_turns = 1, QUICK["long_turns"]
        tool_turns = tool_turns[: QUICK["tool_turns"]]
    # A first turn nobody scores: the model loads its weights and the few-shot prefix.
    await _conversation("answers-warmup", Assistant(), models, config, ["Hello!"])
    questions = await _questions("tuning", tuning, models, config)
    questions += await _questions("holdout", holdout, models, config)
    long = await _long_sessions(long_sessions, long_turns, models, config)
    outcomes, tool_rows = await _tool_turns(tool_turns, models, config)
    tools = tool_scores(outcomes)
    right = [q["right"] for q in questions]
    times = [float(q["answer_ms"]) for q in questions if q["answer_ms"] is not None]
    long_replies = sum(s["turns"] for s in long)
    args = [r["arguments_right"] for r in tool_rows if r["arguments_right"] is not None]
    return {
        "llm": f"{llm.name}:{llm.model}",
        "temperature": config.models.llm_temperature,
        "accuracy": _share(right),
        "accuracy_tuning": _share([q["right"] for q in questions if q["half"] == "tuning"]),
        "accuracy_holdout": _share([q["right"] for q in questions if q["half"] == "holdout"]),
        "questions": len(questions),
        "answer_ms": {
            "p50": percentile(times, 0.5) if times else None,
            "p90": percentile(times, 0.9) if times else None,
        },
        "repeat_rate": round(sum(s["repeat_rate"] * s["turns"] for s in long) / long_replies, 3)
        if long_replies
        else None,
        "long_sessions": long,
        "tool_precision": round(tools.precision, 3),
        "tool_recall": round(tools.recall, 3),
        "answer_matches_tool_result": round(tools.answer_matches_result, 3),
        "tool_arguments_right": _share(args),
        "tool_counts": {
            "turns": len(tool_rows),
            "asking": tools.asked,
            "calls": tools.calls,
            "refused": sum(len(r["refused"]) for r in tool_rows),
            "unknown_tool_calls": sum(len(r["unknown"]) for r in tool_rows),
            "with_result": tools.answered_with_result,
        },
        "retried_turns": sum(bool(q["retries"]) for q in questions)
        + sum(s["retried"] for s in long)
        + sum(bool(r["retries"]) for r in tool_rows),
        "failed_turns": sum(q["failed"] is not None for q in questions)
        + sum(s["failed"] for s in long)
        + sum(r["failed"] is not None for r in tool_rows),
        "tool_turns": tool_rows,
        "results": questions,
    }


def _met(report: dict[str, Any]) -> dict[str, bool | None]:
    met: dict[str, bool | None] = {}
    for key, target in TARGETS.items():
        value = report.get(key)
        if value is None:
            met[key] = None
        elif key == "repeat_rate":
            met[key] = value <= target
        else:
            met[key] = value >= target
    return met


def run_answers_bench(quick: bool = False, tuning_only: bool = False) -> dict[str, Any]:
    config = VoxroomConfig.from_env()
    started = time.monotonic()
    report = asyncio.run(_run(quick, tuning_only, config))
    report["targets"] = TARGETS
    report["met"] = _met(report)
    report["quick"] = quick
    report["run_s"] = round(time.monotonic() - started, 1)
    report["machine"] = machine()
    return report


def print_answers_report(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"LLM: {report['llm']} (temperature {report['temperature']})")
    table = Table("figure", "value", "target", "met")
    met = report["met"]
    rows = [
        ("accuracy", "accuracy", "≥ 0.75"),
        ("accuracy (holdout half)", "accuracy_holdout", "≥ 0.75"),
        ("repeat rate (long sessions)", "repeat_rate", "≤ 0.05"),
        ("tool precision", "tool_precision", "1.0"),
        ("tool recall", "tool_recall", "≥ 0.9"),
        ("answer matches tool result", "answer_matches_tool_result", "≥ 0.95"),
    ]
    for label, key, target in rows:
        flag = met.get(key)
        table.add_row(label, str(report[key]), target, "-" if flag is None else
                      "yes" if flag else "[red]NO")  # fmt: skip
    ms = report["answer_ms"]
    table.add_row("answer ms p50 / p90", f"{ms['p50']} / {ms['p90']}", "", "")
    table.add_row("tool arguments right", str(report["tool_arguments_right"]), "", "")
    table.add_row("questions", str(report["questions"]), "≥ 100", "")
    table.add_row("failed turns (the model failed)", str(report["failed_turns"]), "0", "")
    console.print(table)
    wrong = Table("half", "question", "reply")
    for row in report["results"]:
        if not row["right"]:
            wrong.add_row(row["half"], row["question"], row["reply"])
    console.print(wrong)
    tools = Table("said", "asked", "calls", "refused", "reply")
    for row in report["tool_turns"]:
        calls = ", ".join(f"{c['name']}{c['arguments']}" for c in row["calls"])
        refused = ", ".join(f"{c['name']}{c['arguments']}" for c in row["refused"])
        tools.add_row(row["said"], str(row["asked"]), calls, refused, row["reply"])
    console.print(tools)
