"""`voxroom bench assist`: the agent-assist copilot in a real room (Janus, the local models).

A scripted support call (`assist_script`): a customer (espeak-ng en-us) asks 22 questions the
sample knowledge base answers, 6 it cannot, and makes small talk 6 times; a human agent
(en-gb) answers now and then. Measured at the human agent's client:

- `suggestion_delay_ms`: the last sample of the customer's question sent → the suggestion
  received (p50, p90);
- `suggestion_hit_rate`: answerable questions whose suggestion cites the right document;
- `false_suggestion_rate`: unanswerable questions and small talk that got a suggestion;
- `leaks_to_customer`: messages the customer's client received from the copilot (must be 0);

and `calibration`: the knowledge base's best similarity for what was heard of each line,
computed here afterwards, against which the copilot's threshold is set.

Runs in a private network namespace (re-executing itself under `unshare` when needed).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.table import Table

from voxroom.bench.app_rooms import (
    AppRooms,
    Message,
    Voices,
    app_server_env,
    arrivals,
    machine,
    quiet_for,
)
from voxroom.bench.assist_script import AGENT, AGENT_EVERY, CUSTOMER, Line
from voxroom.bench.harness import running_server
from voxroom.bench.latency import percentile
from voxroom.bench.load import log_errors
from voxroom.bench.netns import VETH_ADDRESS
from voxroom.client import RoomClient
from voxroom.transport.webrtc import tuning

TARGETS = {
    "suggestion_delay_ms_p50": 1000.0,
    "suggestion_hit_rate": 0.9,
    "false_suggestion_rate": 0.1,
    "leaks_to_customer": 0,
}
CUSTOMER_VOICE, AGENT_VOICE = "en-us", "en-gb"
SETTLE_S = 2.5  # after a line: no new caption or suggestion for this long → the next line
LINE_TIMEOUT_S = 25.0
FIRST_READY_S = 180.0  # the server loads the embedding model and indexes at the first room


def _from(identity: str, kind: str) -> Callable[[Message], bool]:
    def match(m: Message) -> bool:
        return bool(
            m.get("type") == kind and m.get("participant") == identity and m.get("final", True)
        )

    return match


@dataclass
class LineResult:
    line: Line
    index: int
    heard: list[str]
    suggestions: list[tuple[float, Message]]
    ended: float

    def as_dict(self) -> dict[str, Any]:
        first = self.suggestions[0][1] if self.suggestions else None
        return {
            "index": self.index,
            "text": self.line.text,
            "kind": self.line.kind,
            "expected": self.line.document,
            "heard": " ".join(self.heard),
            "suggested": first["sources"][0]["document"] if first else None,
            "score": first["sources"][0]["score"] if first else None,
            "suggestions": len(self.suggestions),
            "delay_ms": self.delay_ms,
            "hit": self.hit,
        }

    @property
    def delay_ms(self) -> float | None:
        if not self.suggestions:
            return None
        return round(1000 * (self.suggestions[0][0] - self.ended), 1)

    @property
    def hit(self) -> bool:
        return bool(self.suggestions) and (
            self.suggestions[0][1]["sources"][0]["document"] == self.line.document
        )


async def _say(
    speaker: RoomClient, listener: RoomClient, identity: str, audio: Any
) -> tuple[float, float]:
    """Speak; wait until the listener's captions and suggestions of it have settled."""
    start, ended = await speaker.speak_timed(*audio)
    await listener.wait_for(_from(identity, "transcript"), LINE_TIMEOUT_S, after=ended)

    def about_it(m: Message) -> bool:
        return _from(identity, "transcript")(m) or _from(identity, "suggestion")(m)

    await quiet_for(listener, about_it, SETTLE_S, after=ended, timeout=LINE_TIMEOUT_S)
    return start, ended


async def _call(api: AppRooms, voices: Voices) -> dict[str, Any]:
    room = await api.create_room("assist", "bench support call")
    customer = await api.join(room["id"], "carla", "Carla", role="customer")
    agent = await api.join(room["id"], "sam", "Sam", role="agent")
    results: list[LineResult] = []
    agent_suggestions = 0
    try:
        await agent.wait_for(lambda m: m.get("type") == "copilot", 30)
        # Warm-up, not measured: the human agent asks once, which waits for the model to
        # load and the knowledge base to be indexed in the server.
        asked = time.monotonic()
        agent.send({"type": "ask", "text": "router lights"})
        await agent.wait_for(lambda m: m.get("type") == "suggestion", FIRST_READY_S, after=asked)
        for index, line in enumerate(CUSTOMER):
            start, ended = await _say(
                customer, agent, "carla", voices.get(line.text, CUSTOMER_VOICE)
            )
            until = time.monotonic()
            heard = [
                m["text"] for _, m in arrivals(agent, _from("carla", "transcript"), start, until)
            ]
            suggestions = arrivals(agent, _from("carla", "suggestion"), start, until)
            results.append(LineResult(line, index, heard, suggestions, ended))
            if index % AGENT_EVERY == AGENT_EVERY - 1:
                said = AGENT[(index // AGENT_EVERY) % len(AGENT)]
                start, _ = await _say(agent, agent, "sam", voices.get(said, AGENT_VOICE))
                agent_suggestions += len(arrivals(agent, _from("sam", "suggestion"), start))
        left = time.monotonic()
        await customer.leave()
        summary = await agent.wait_for(
            lambda m: m.get("type") == "summary" and m["final"], 20, after=left
        )
    finally:
        await customer.leave()
        await agent.leave()
        await api.end_room(room["id"])
    return {
        "results": results,
        "agent_line_suggestions": agent_suggestions,
        "leaks": [m for _, m in customer.messages],
        "summary": summary["text"],
        "session_id": room["session_id"],
    }


async def _calibrate(results: list[LineResult]) -> dict[str, Any]:
    """The knowledge base's best score for what was heard of each line (this process loads
    the same model and index the server used)."""
    from voxroom.apps.assist import SAMPLE_KNOWLEDGE, Copilot
    from voxroom.knowledge import open_knowledge
    from voxroom.knowledge.questions import detect

    kb = open_knowledge(SAMPLE_KNOWLEDGE)
    scores: dict[str, list[float]] = {"answerable": [], "unanswerable": [], "small_talk": []}
    lines = []
    for result in results:
        heard = " ".join(result.heard)
        cue = await detect(heard)
        hits = await kb.search(cue.query or heard, 1)
        best = hits[0] if hits else None
        score = best.score if best else 0.0
        scores[result.line.kind].append(score)
        lines.append(
            {
                "index": result.index,
                "cue": cue.kind,
                "top_score": score,
                "top_document": best.passage.document if best else None,
            }
        )
    return {
        "threshold": Copilot.min_similarity,
        "answerable_min": min(scores["answerable"], default=None),
        "unanswerable_max": max(scores["unanswerable"], default=None),
        "small_talk_max": max(scores["small_talk"], default=None),
        "lines": lines,
    }


def score(call: dict[str, Any]) -> dict[str, Any]:
    results: list[LineResult] = call["results"]
    answerable = [r for r in results if r.line.kind == "answerable"]
    negative = [r for r in results if r.line.kind != "answerable"]
    delays = [r.delay_ms for r in results if r.delay_ms is not None]
    return {
        "suggestion_delay_ms": {
            "p50": percentile(delays, 0.5) if delays else None,
            "p90": percentile(delays, 0.9) if delays else None,
        },
        "suggestion_hit_rate": round(sum(r.hit for r in answerable) / len(answerable), 3),
        "false_suggestion_rate": round(
            sum(bool(r.suggestions) for r in negative) / len(negative), 3
        ),
        "leaks_to_customer": len(call["leaks"]),
        "counts": {
            "answerable": len(answerable),
            "unanswerable": sum(r.line.kind == "unanswerable" for r in results),
            "small_talk": sum(r.line.kind == "small_talk" for r in results),
            "suggested": sum(bool(r.suggestions) for r in results),
            "hits": sum(r.hit for r in answerable),
            "agent_line_suggestions": call["agent_line_suggestions"],
        },
    }


def _met(report: dict[str, Any]) -> dict[str, bool | None]:
    p50 = report["suggestion_delay_ms"]["p50"]
    return {
        "suggestion_delay_ms_p50": None
        if p50 is None
        else p50 <= TARGETS["suggestion_delay_ms_p50"],
        "suggestion_hit_rate": report["suggestion_hit_rate"] >= TARGETS["suggestion_hit_rate"],
        "false_suggestion_rate": report["false_suggestion_rate"]
        <= TARGETS["false_suggestion_rate"],
        "leaks_to_customer": report["leaks_to_customer"] == TARGETS["leaks_to_customer"],
    }


async def _run(url: str, workdir: Path) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        call = await _call(AppRooms(url, http), Voices(workdir))
    report = score(call)
    report["targets"] = TARGETS
    report["met"] = _met(report)
    report["lines"] = [r.as_dict() for r in call["results"]]
    report["summary"] = call["summary"]
    report["leaked_types"] = sorted({str(m.get("type")) for m in call["leaks"]})
    report["session_id"] = call["session_id"]
    report["calibration"] = await _calibrate(call["results"])
    return report


def run_assist_bench(interface: str) -> dict[str, Any]:
    """The bench against a fresh `voxroom dev` whose Janus runs ICE on `interface`."""
    tuning.apply(jitter_prefetch=0, host_addresses=[VETH_ADDRESS])
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="voxroom-assist-") as tmp:
        workdir = Path(tmp)
        log_path = workdir / "server.log"
        with running_server(log_path, env=app_server_env(interface)) as url:
            report = asyncio.run(_run(url, workdir))
        report["server_errors"] = log_errors(log_path.read_text(errors="replace"))
    report["run_s"] = round(time.monotonic() - started, 1)
    report["machine"] = machine()
    return report


def print_assist_report(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    console = Console()
    met = report["met"]
    table = Table("figure", "value", "target", "met")
    delay = report["suggestion_delay_ms"]
    table.add_row(
        "suggestion delay p50 / p90 ms",
        f"{delay['p50']} / {delay['p90']}",
        "≤ 1000",
        _yes(met["suggestion_delay_ms_p50"]),
    )
    table.add_row(
        "suggestion hit rate",
        str(report["suggestion_hit_rate"]),
        "≥ 0.9",
        _yes(met["suggestion_hit_rate"]),
    )
    table.add_row(
        "false suggestion rate",
        str(report["false_suggestion_rate"]),
        "≤ 0.1",
        _yes(met["false_suggestion_rate"]),
    )
    table.add_row(
        "leaks to the customer",
        str(report["leaks_to_customer"]),
        "0",
        _yes(met["leaks_to_customer"]),
    )
    console.print(table)
    lines = Table("kind", "said", "heard", "expected", "suggested", "score", "ms")
    for line in report["lines"]:
        shown = [line["expected"], line["suggested"], line["score"], line["delay_ms"]]
        lines.add_row(
            line["kind"],
            line["text"],
            line["heard"],
            *("-" if v is None else str(v) for v in shown),
        )
    console.print(lines)
    console.print(f"summary: {report['summary']}")


def _yes(met: bool | None) -> str:
    return "-" if met is None else "yes" if met else "[red]NO"
