"""`voxroom bench rooms`: the agent in a room with two people, on the real Janus.

1. A scripted room (`rooms_call`): two simulated people (espeak-ng, en-us and en-gb, 140
   wpm) ask the agent questions by name and make remarks to each other. Measured:
   - `speaker_attribution_accuracy`: final user captions naming the person who spoke;
   - `addressed_precision` / `addressed_recall`: lines the agent answered (spoke a reply
     within 15 s of the caption) against the lines that addressed it;
   - `v2v_ms`: voice-to-voice of the answered questions in the room (last sample sent → first
     voiced agent frame received, on the asking client), and `p2p_v2v_ms`: the same
     questions without the name in a peer-to-peer session on the same server, interleaved.
2. A ramp of concurrent rooms (`rooms_ramp`): `rooms_held`, the most rooms whose every
   stream stayed real time.

It runs in a private network namespace (Janus runs ICE on a veth carrying 127.0.0.2 there;
`bench/netns.py`): `voxroom bench rooms` re-executes itself under `unshare` when needed.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.table import Table

from voxroom.bench.harness import running_server
from voxroom.bench.latency import percentile
from voxroom.bench.load import log_errors
from voxroom.bench.netns import VETH_ADDRESS
from voxroom.bench.rooms_call import PEOPLE, ScriptedCall, ScriptRun
from voxroom.bench.rooms_people import RoomsApi, Utterances
from voxroom.bench.rooms_ramp import RampConfig, run_ramp
from voxroom.bench.rooms_score import (
    LineOutcome,
    attribution_accuracy,
    outcomes,
    precision_recall,
    turn_stages,
)
from voxroom.bench.rooms_script import Line, Person, build_script
from voxroom.client import RoomClient, VoxroomClient
from voxroom.transport.webrtc import tuning

TARGETS = {
    "speaker_attribution_accuracy": 0.98,
    "addressed_precision": 0.9,
    "addressed_recall": 0.9,
    "v2v_over_p2p_ms": 60.0,  # room p50 at most this much above peer to peer
}
WARM_UP = "Hello, can you hear me?"  # peer to peer before measuring (not counted)


@dataclass(frozen=True, slots=True)
class RoomsSettings:
    """`per_kind`: scripted questions and as many remarks; the ramp's configuration."""

    per_kind: int = 14
    ramp: RampConfig = field(default_factory=RampConfig)

    @classmethod
    def quick(cls, max_rooms: int = 2) -> RoomsSettings:
        return cls(per_kind=4, ramp=RampConfig(max_rooms=max_rooms, window_s=20.0))


def server_env(interface: str, settings: RoomsSettings) -> dict[str, str]:
    rooms = settings.ramp.max_rooms + 1  # the scripted room may still be winding down
    return {
        "VOXROOM_TRANSPORT__ICE_ADDRESSES": f"127.0.0.1,{VETH_ADDRESS}",
        "VOXROOM_ROOMS__JANUS_ICE_INTERFACE": interface,
        "VOXROOM_ROOMS__JANUS_RTP_PORTS": "20000-20499",
        "VOXROOM_ROOMS__MAX_ROOMS": str(rooms),
        "VOXROOM_SERVER__MAX_SESSIONS": str(rooms + 2),  # + the peer-to-peer twin
        "VOXROOM_SERVER__RATE_LIMIT_PER_MINUTE": "100000",  # every client is 127.0.0.x
        "VOXROOM_SERVER__RATE_LIMIT_BURST": "10000",
    }


def stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None}
    return {"p50": percentile(values, 0.5), "p90": percentile(values, 0.9)}


# --- the scripted room -----------------------------------------------------------------
def _synthesize(utterances: Utterances, script: list[Line]) -> None:
    voices = {p.identity: p.voice for p in PEOPLE}
    for line in script:
        utterances.get(line.text, voices[line.speaker])
        if line.p2p_text is not None:
            utterances.get(line.p2p_text, voices[line.speaker])
    utterances.get(WARM_UP, PEOPLE[0].voice)


async def _scripted_room(
    api: RoomsApi, workdir: Path, per_kind: int
) -> tuple[dict[str, Any], ScriptRun, str | None]:
    """Run the script; returns (the room, the run, the peer-to-peer session id)."""
    room = await api.create_room("bench")
    script = build_script(room["agent"], PEOPLE, per_kind)
    utterances = Utterances(workdir)
    _synthesize(utterances, script)
    people: dict[str, tuple[Person, RoomClient]] = {}
    p2p = VoxroomClient(api.url)
    try:
        for person in PEOPLE:
            people[person.identity] = (
                person,
                await api.join(room["id"], person.identity, person.name),
            )
        await p2p.connect()
        call = ScriptedCall(people, p2p, utterances)
        await call.twin(WARM_UP, PEOPLE[0].voice)
        return room, await call.play(script), p2p.session_id
    finally:
        for _, client in people.values():
            await client.leave()
        await p2p.close()
        await api.end_room(room["id"])


def _turn_records(results: list[LineOutcome], run: ScriptRun) -> list[dict[str, Any]]:
    stages = turn_stages(run.observer.messages)
    return [
        {
            **r.as_dict(),
            "v2v_ms": run.first_audio_ms.get(r.line.index),
            "stages": stages.get(r.captions[-1].turn_id) if r.captions else None,
        }
        for r in results
    ]


def _transport_ms(turns: list[dict[str, Any]]) -> list[float]:
    return [
        float(t["v2v_ms"]) - float(t["stages"]["total_ms"])
        for t in turns
        if t.get("v2v_ms") is not None and (t.get("stages") or {}).get("total_ms") is not None
    ]


def _stage_p50s(turns: list[dict[str, Any]]) -> dict[str, float]:
    """The server's latency stages (`turn_metrics`), p50 over `turns`."""
    values: dict[str, list[float]] = {}
    for turn in turns:
        for stage, value in (turn.get("stages") or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                values.setdefault(stage, []).append(float(value))
    return {stage: percentile(v, 0.5) for stage, v in values.items()}


def _counts(results: list[LineOutcome], room_v2v: int, p2p_v2v: int) -> dict[str, int]:
    return {
        "addressed_lines": sum(1 for r in results if r.line.addressed),
        "remark_lines": sum(1 for r in results if not r.line.addressed),
        "user_captions": sum(len(r.captions) for r in results),
        "captions_attributed": sum(r.attributed for r in results),
        "lines_unheard": sum(1 for r in results if not r.captions),
        "answered_addressed": sum(1 for r in results if r.answered and r.line.addressed),
        "answered_remarks": sum(1 for r in results if r.answered and not r.line.addressed),
        # Answered, but after the window: slowness rather than the policy.
        "answered_late": sum(1 for r in results if r.answer_s is not None and not r.answered),
        "room_v2v_samples": room_v2v,
        "p2p_v2v_samples": p2p_v2v,
    }


def score_script(run: ScriptRun) -> dict[str, Any]:
    results = outcomes(run.lines, run.observer.messages)
    precision, recall = precision_recall(results)
    room_v2v = [
        run.first_audio_ms[r.line.index]
        for r in results
        if r.line.addressed and r.answered and r.line.index in run.first_audio_ms
    ]
    p2p_v2v = [float(t["v2v_ms"]) for t in run.p2p_turns if t["v2v_ms"] is not None]
    turns = _turn_records(results, run)
    paired = [
        run.first_audio_ms[t["line"]] - float(t["v2v_ms"])
        for t in run.p2p_turns
        if t["v2v_ms"] is not None and t["line"] in run.first_audio_ms
    ]
    return {
        "speaker_attribution_accuracy": attribution_accuracy(results),
        "addressed_precision": precision,
        "addressed_recall": recall,
        "v2v_ms": stats(room_v2v),
        "p2p_v2v_ms": stats(p2p_v2v),
        # Each question in the room minus the same question peer to peer, asked right after.
        "paired_v2v_diff_ms": stats(paired),
        # Beyond the server's own turn latency (`total_ms`): what the transport adds, Janus
        # and both WebRTC legs in the room, one WebRTC leg peer to peer.
        "transport_ms": stats(_transport_ms([t for t in turns if t["answered"]])),
        "p2p_transport_ms": stats(_transport_ms(run.p2p_turns)),
        "stages_p50_ms": {
            "room": _stage_p50s([t for t in turns if t["answered"] and t["addressed"]]),
            "p2p": _stage_p50s(run.p2p_turns),
        },
        "counts": _counts(results, len(room_v2v), len(p2p_v2v)),
        "turns": turns,
        "p2p_turns": run.p2p_turns,
    }


def _verdicts(report: dict[str, Any]) -> dict[str, bool | None]:
    room, p2p = report["v2v_ms"]["p50"], report["p2p_v2v_ms"]["p50"]
    return {
        key: report[key] >= TARGETS[key]
        for key in ("speaker_attribution_accuracy", "addressed_precision", "addressed_recall")
    } | {
        "v2v_over_p2p_ms": (
            None if room is None or p2p is None else room - p2p <= TARGETS["v2v_over_p2p_ms"]
        )
    }


# --- the whole run -----------------------------------------------------------------------
async def _run(url: str, workdir: Path, settings: RoomsSettings) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        api = RoomsApi(url, http)
        await api.authorize()
        room, run, p2p_session = await _scripted_room(api, workdir, settings.per_kind)
        scored = score_script(run)
        ramp = await run_ramp(api, workdir, settings.ramp)
    return _report(room, p2p_session, scored, ramp, settings)


def _report(
    room: dict[str, Any],
    p2p_session: str | None,
    scored: dict[str, Any],
    ramp: dict[str, Any],
    settings: RoomsSettings,
) -> dict[str, Any]:
    room_p50, p2p_p50 = scored["v2v_ms"]["p50"], scored["p2p_v2v_ms"]["p50"]
    report = {
        **{k: scored[k] for k in ("speaker_attribution_accuracy", "addressed_precision")},
        **{k: scored[k] for k in ("addressed_recall", "v2v_ms", "p2p_v2v_ms")},
        "rooms_held": ramp["rooms_held"],
        "v2v_over_p2p_ms": (
            round(room_p50 - p2p_p50, 1) if room_p50 is not None and p2p_p50 is not None else None
        ),
        "targets": TARGETS,
        "paired_v2v_diff_ms": scored["paired_v2v_diff_ms"],
        "transport_ms": scored["transport_ms"],
        "p2p_transport_ms": scored["p2p_transport_ms"],
        "stages_p50_ms": scored["stages_p50_ms"],
        "counts": scored["counts"],
        "turns": scored["turns"],
        "p2p_turns": scored["p2p_turns"],
        "ramp": ramp,
        # Open them with `voxroom audit show <id>` or in the viewer at /audit/.
        "session_ids": {
            "room": room["session_id"],
            "p2p": p2p_session,
            "ramp": ramp.pop("session_ids"),
        },
        "config": {
            "agent": room["agent"],
            "policy": room["policy"],
            "people": [{"identity": p.identity, "voice": p.voice} for p in PEOPLE],
            "per_kind": settings.per_kind,
            "ramp": {
                "max_rooms": settings.ramp.max_rooms,
                "window_s": settings.ramp.window_s,
                "period_s": settings.ramp.period_s,
            },
        },
    }
    report["met"] = _verdicts(report)
    return report


def run_rooms_bench(interface: str, settings: RoomsSettings | None = None) -> dict[str, Any]:
    """The whole bench against a fresh `voxroom dev` whose Janus runs ICE on `interface` (the
    veth of this private namespace: `netns.create_veth()`)."""
    settings = settings or RoomsSettings()
    tuning.apply(jitter_prefetch=0, host_addresses=[VETH_ADDRESS])
    started = time.monotonic()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="voxroom-rooms-") as tmp:
        workdir = Path(tmp)
        log_path = workdir / "server.log"
        with running_server(log_path, env=server_env(interface, settings)) as url:
            report = asyncio.run(_run(url, workdir, settings))
        report["server_errors"] = log_errors(log_path.read_text(errors="replace"))
    report["run_s"] = round(time.monotonic() - started, 1)
    report["machine"] = {
        "cpu_cores": os.cpu_count(),
        # Whatever else runs on the machine competes with the server for its cores.
        "load_avg_1m": {"start": round(load_before[0], 2), "end": round(os.getloadavg()[0], 2)},
    }
    return report


# --- output ------------------------------------------------------------------------------
def _figure(value: Any) -> str:
    return "-" if value is None else str(value)


def _verdict(met: bool | None) -> str:
    return "-" if met is None else "yes" if met else "[red]NO"


def print_rooms_report(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    console = Console()
    met = report["met"]
    table = Table("figure", "value", "target", "met")
    for key, label in (
        ("speaker_attribution_accuracy", "speaker attribution"),
        ("addressed_precision", "addressed precision"),
        ("addressed_recall", "addressed recall"),
    ):
        table.add_row(label, _figure(report[key]), f"≥ {TARGETS[key]}", _verdict(met[key]))
    room, p2p = report["v2v_ms"], report["p2p_v2v_ms"]
    table.add_row(
        "room v2v p50 / p90 ms", f"{_figure(room['p50'])} / {_figure(room['p90'])}", "", ""
    )
    table.add_row("p2p v2v p50 / p90 ms", f"{_figure(p2p['p50'])} / {_figure(p2p['p90'])}", "", "")
    table.add_row(
        "room − p2p p50 ms",
        _figure(report["v2v_over_p2p_ms"]),
        f"≤ {TARGETS['v2v_over_p2p_ms']:.0f}",
        _verdict(met["v2v_over_p2p_ms"]),
    )
    table.add_row(
        "paired (room − p2p) p50 ms", _figure(report["paired_v2v_diff_ms"]["p50"]), "", ""
    )
    table.add_row(
        "transport p50 ms (room / p2p)",
        f"{_figure(report['transport_ms']['p50'])} / {_figure(report['p2p_transport_ms']['p50'])}",
        "",
        "",
    )
    table.add_row("rooms held in real time", str(report["rooms_held"]), "", "")
    table.add_row(
        "  … with backlog ≤ 5 frames", str(report["ramp"]["rooms_held_strict_backlog"]), "", ""
    )
    console.print(table)
    _print_turns(console, report)
    _print_ramp(console, report["ramp"])
    ids = report["session_ids"]
    console.print(
        f"sessions (voxroom audit show ID): room {ids['room']}  p2p {ids['p2p']}  "
        f"ramp {' '.join(ids['ramp'])}"
    )


def _print_turns(console: Console, report: dict[str, Any]) -> None:
    turns = Table("speaker", "line", "heard (participant)", "addressed", "answered", "v2v ms")
    for turn in report["turns"]:
        heard = "; ".join(f"{h['text']} ({h['participant']})" for h in turn["heard"])
        turns.add_row(
            turn["speaker"],
            turn["text"],
            heard or "-",
            "yes" if turn["addressed"] else "no",
            "yes" if turn["answered"] else "no",
            _figure(turn["v2v_ms"]),
        )
    console.print(turns)


def _print_ramp(console: Console, ramp: dict[str, Any]) -> None:
    table = Table("rooms", "holds", "questions", "first audio max ms", "frames min", "backlog")
    for step in ramp["steps"]:
        table.add_row(
            str(step["rooms"]),
            "yes" if step["holds"] else "NO",
            str(step["questions"]),
            _figure(step["first_audio_ms_max"]),
            _figure(step["frame_ratio_min"]),
            str(step["inbound_backlog_frames_max"]),
        )
    console.print(table)
    for step in ramp["steps"]:
        if not step["holds"]:
            console.print(f"[yellow]{step['rooms']} rooms: {'; '.join(step['reasons'])}")
