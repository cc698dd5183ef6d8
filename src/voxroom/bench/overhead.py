"""`voxroom bench overhead`: framework overhead against Pipecat and LiveKit Agents, same run.

Overhead = the framework decides the user's turn is over → the first TTS audio frame reaches
its output, with instant fake STT/LLM/TTS, the same turn script (`anchors/turnscript.py`) and
real-time audio in every framework. Where each framework's decision is taken:

- voxroom: `TurnDetector.update` returns END_OF_TURN (silence reached the end-of-turn wait);
- Pipecat: a user-turn stop strategy calls `trigger_user_turn_stopped` (after VAD stop and
  Smart Turn v3, with the final transcript already in);
- LiveKit Agents: `AgentActivity.on_end_of_turn` (the turn is committed after VAD end of
  speech and the endpointing delay, with the final transcript already in).

In all three the fake STT has the final transcript ready 160 ms into the silence, before the
decision, so what is measured is the framework's own path from decision to audio. The anchors
are installed by pip into their own venvs (`anchors/venvs.py`) and run as subprocesses.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from voxroom.bench.anchors.turnscript import TurnScript, summarize
from voxroom.bench.anchors.venvs import ANCHORS, Anchor, Installed, ensure_venv
from voxroom.bench.overhead_voxroom import measure_voxroom

log = logging.getLogger(__name__)

TARGET_P50_MS = 3.0
TARGET_FRACTION_OF_BETTER_ANCHOR = 0.5
MEASURES = {
    "voxroom": "TurnDetector END_OF_TURN → first AudioSink.push with sound",
    "pipecat": "trigger_user_turn_stopped → first write_audio_frame with sound",
    "livekit": "AgentActivity.on_end_of_turn → first AudioOutput.capture_frame with sound",
}


def run_overhead_bench(
    turns: int = 30, *, anchors: bool = True, reinstall: bool = False
) -> dict[str, Any]:
    """Measure voxroom and (unless `anchors` is False) Pipecat and LiveKit Agents.

    An anchor that cannot be installed or run is reported with an `error` field."""
    script = TurnScript(turns=turns)
    installs: dict[str, Installed | Exception] = {}
    if anchors:
        log.info("installing or reusing the anchor venvs (pip; first time ~1-2 min)")
        with ThreadPoolExecutor(max_workers=len(ANCHORS)) as pool:
            futures = {a.name: pool.submit(ensure_venv, a, reinstall=reinstall) for a in ANCHORS}
        for name, future in futures.items():
            try:
                installs[name] = future.result()
            except Exception as exc:  # reported in the JSON, never a crash
                installs[name] = exc

    log.info("voxroom: %d turns", turns)
    voxroom = measure_voxroom(script)
    report: dict[str, Any] = {
        "voxroom": {
            **summarize(voxroom["records"]),
            "engine_breakdown_p50_ms": voxroom["engine_breakdown_p50_ms"],
            "measures": MEASURES["voxroom"],
        }
    }
    for anchor in ANCHORS if anchors else ():
        report |= _run_anchor(anchor, installs[anchor.name], script)
    report["ratios"] = _ratios(report)
    report["target"] = _target(report)
    report["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }
    report["script"] = asdict(script)
    return report


def _run_anchor(
    anchor: Anchor, installed: Installed | Exception, script: TurnScript
) -> dict[str, Any]:
    keys = [anchor.name, *(f"{anchor.name}_{v}" for v in anchor.variants[1:])]
    if isinstance(installed, Exception):
        error = f"could not install {anchor.requirement}: {installed}"
        log.warning("%s: %s", anchor.name, error)
        return {key: {"error": error} for key in keys}
    results: dict[str, Any] = {}
    for key, variant in zip(keys, anchor.variants, strict=True):
        log.info("%s (%s): %d turns", anchor.name, variant, script.turns)
        try:
            output = _run_script(anchor, installed.python, script, variant)
            results[key] = {
                **summarize(output["records"]),
                "version": output["version"],
                "settings": output["settings"],
                "install_s": installed.install_s,
                "venv_reused": installed.reused,
                "measures": MEASURES[anchor.name],
            }
        except Exception as exc:  # reported in the JSON, never a crash
            log.warning("%s (%s) failed: %s", anchor.name, variant, exc)
            results[key] = {"error": str(exc), "version": installed.version}
    return results


def _run_script(anchor: Anchor, python: Path, script: TurnScript, variant: str) -> dict[str, Any]:
    request = json.dumps({"script": asdict(script), "variant": variant})
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    timeout = (script.warmup + script.turns) * (
        script.speech_s + script.timeout_s + script.settle_s
    ) + 120
    stderr_path = python.parent.parent / f"run-{variant}.log"
    with stderr_path.open("wb") as stderr:
        done = subprocess.run(
            [str(python), str(anchor.script_path)],
            input=request.encode(),
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            timeout=timeout,
        )
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = "\n".join(stderr_path.read_text(errors="replace").splitlines()[-12:])
        raise RuntimeError(f"exit {done.returncode} (log: {stderr_path}):\n{tail}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _ratios(report: dict[str, Any]) -> dict[str, Any]:
    """voxroom ÷ anchor, p50 and p90: below 1 means voxroom adds less than the anchor."""
    ours = report["voxroom"]
    ratios: dict[str, Any] = {}
    for key, theirs in report.items():
        if key == "voxroom" or not isinstance(theirs, dict) or "p50_ms" not in theirs:
            continue
        ratios[key] = {
            stat: round(ours[stat] / theirs[stat], 3)
            for stat in ("p50_ms", "p90_ms")
            if ours.get(stat) and theirs.get(stat)
        }
    return ratios


def _target(report: dict[str, Any]) -> dict[str, Any]:
    """≤ 3 ms median and at most half of the better anchor (default settings), same run."""
    defaults = {
        a.name: report[a.name]["p50_ms"] for a in ANCHORS if "p50_ms" in report.get(a.name, {})
    }
    p50 = report["voxroom"].get("p50_ms")
    target: dict[str, Any] = {"p50_max_ms": TARGET_P50_MS}
    if defaults:
        better = min(defaults, key=defaults.__getitem__)
        limit = round(defaults[better] * TARGET_FRACTION_OF_BETTER_ANCHOR, 2)
        target |= {"better_anchor": better, "half_of_better_anchor_ms": limit}
        target["met"] = p50 is not None and p50 <= min(TARGET_P50_MS, limit)
    else:
        target["met"] = None  # no anchor ran: only the absolute half can be judged
    if p50 is not None:
        target["p50_within_3_ms"] = p50 <= TARGET_P50_MS
    return target


def print_overhead_report(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    console = Console()
    table = Table("framework", "version", "p50 ms", "p90 ms", "turns", "voxroom ÷ it (p50)")
    for key, row in report.items():
        if not isinstance(row, dict) or not ("p50_ms" in row or "error" in row):
            continue
        ratio = report["ratios"].get(key, {}).get("p50_ms")
        table.add_row(
            key,
            str(row.get("version", "")),
            str(row.get("p50_ms", "—")),
            str(row.get("p90_ms", "—")),
            f"{row.get('turns', 0)} (+{row.get('missed', 0)} missed)" if "turns" in row else "—",
            "" if ratio is None else str(ratio),
        )
    console.print("Framework overhead: end of user turn decided → first TTS audio frame written")
    console.print(table)
    for key, row in report.items():
        if isinstance(row, dict) and "error" in row:
            console.print(f"[red]{key} did not run:[/red] {row['error']}")
    target = report["target"]
    console.print(
        f"target (≤ {target['p50_max_ms']} ms and ≤ half of the better anchor"
        f"{', ' + target['better_anchor'] if 'better_anchor' in target else ''}): "
        f"{'met' if target['met'] else 'not met' if target['met'] is False else 'no anchor ran'}"
    )
    breakdown = report["voxroom"].get("engine_breakdown_p50_ms", {})
    if breakdown:
        console.print(
            "voxroom breakdown (p50, from the engine's turn metrics): "
            + ", ".join(f"{k} {v}" for k, v in breakdown.items())
        )
