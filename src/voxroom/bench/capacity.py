"""`voxroom bench capacity`: how many sessions one machine holds while everyone is talking.

`bench sessions` ramps idle sessions; people size machines by conversations in progress.
Here every session is a real aiortc call to a real `voxroom dev` (packaged models, audit on)
whose client asks a spoken question (espeak-ng and Piper voices, made before the server
starts), waits for the whole answer, pauses a few seconds, and asks again. The ramp adds
sessions level by level (1, 2, 3, 4, 6, 8, …); each level is held until every session has
asked `turns_per_level` questions in it (after a warm-up), and it *holds* when the p90 of
voice-to-voice (end of the user's speech → first agent audio at the client, one clock) is
≤ 1.5 s and every question was answered within 15 s. The ramp stops at the first level
that does not hold; `talking_sessions` is the largest that did.

Model sharing is measured on the server (`providers/sharing.py`, scraped from `/metrics`
before and after each level's window): `stt_batch_size` = transcriptions per recognizer call,
`llm_parallel` = generations per llama.cpp decode step.

`compare=True` runs the same ramp twice in one run: first with the sharing features off
(`VOXROOM_MODELS__LLM_PARALLEL=1`, `VOXROOM_MODELS__STT_BATCH=1`,
`VOXROOM_MODELS__LLM_THREADS=1`: one generation at a time on one llama.cpp context with one
thread, one transcription per call, as before issue 17), then as configured.
The clients share the machine's cores with the server; their CPU is reported.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import json
import logging
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import psutil
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame
from prometheus_client.parser import text_string_to_metric_families

from voxroom.bench.latency import percentile
from voxroom.bench.load import load_server
from voxroom.bench.speech import RATE, SpeechMaker, Voice
from voxroom.client import VoxroomClient
from voxroom.client.base import SPEECH_DBFS
from voxroom.media.audio import frame_to_mono, rms_dbfs
from voxroom.transport.webrtc import tuning

log = logging.getLogger("voxroom.bench.capacity")

QUESTIONS = [
    "What is the capital of France?",
    "How many legs does a spider have?",
    "What is the largest ocean on Earth?",
    "Who wrote the play Romeo and Juliet?",
    "What color is the sky on a clear day?",
    "How many days are in a week?",
    "What is the tallest mountain in the world?",
    "Can you tell me a fun fact about the moon?",
]
VOICES: tuple[Voice, ...] = ("espeak", "piper")
LEVELS = (1, 2, 3, 4, 6, 8, 10, 12, 14, 16, 20, 24)
QUICK_LEVELS = (1, 2)
MAX_P90_MS = 1500.0
REPLY_TIMEOUT_S = 15.0  # a question with no agent audio this long after it is unanswered
GAP_S = (2.0, 4.0)
SLOWEST = 3  # turns per level whose stages are reported
QUIET_S = 0.5  # after `listening`, the answer's last frames still in flight
LISTENING = {
    "type": "state",
    "state": "listening",
}  # the user's pause after the answer ends, before the next question
# Features the baseline switches off (the code before issue 17: one generation at a time on
# one llama.cpp context with its one thread; one transcription per Whisper call).
BASELINE_ENV = {
    "VOXROOM_MODELS__LLM_PARALLEL": "1",
    "VOXROOM_MODELS__STT_BATCH": "1",
    "VOXROOM_MODELS__LLM_THREADS": "1",
}
SHARING_METRICS = {
    "stt_batch_size": "voxroom_stt_batch_size",
    "llm_parallel": "voxroom_llm_parallel",
}


@dataclass(frozen=True, slots=True)
class CapacitySettings:
    levels: tuple[int, ...] = LEVELS
    turns_per_level: int = 3
    warmup_turns: int = 1  # each new session's first questions are not measured
    max_level_s: float = 150.0  # a level that has not got its turns by then is judged as is
    compare: bool = False
    max_p90_ms: float = MAX_P90_MS  # the criterion (1.5 s: issue 17)

    @classmethod
    def quick(cls) -> CapacitySettings:
        return cls(levels=QUICK_LEVELS, turns_per_level=2, max_level_s=90.0)


@dataclass(slots=True)
class Turn:
    session: int
    speech_end: float
    voice_to_voice_ms: float | None  # None: unanswered within REPLY_TIMEOUT_S
    stages: dict[str, float] = field(default_factory=dict)  # the server's turn_metrics


class TalkingClient(VoxroomClient):
    """A call that keeps only when the agent's audio was voiced (no samples: a long ramp of
    many sessions would otherwise hold every frame)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.voiced: list[float] = []
        self._heard = asyncio.Event()

    async def _receive(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if isinstance(frame, AudioFrame) and rms_dbfs(frame_to_mono(frame)) > SPEECH_DBFS:
                    self.voiced.append(time.monotonic())
                    self._heard.set()

    async def first_voice_after(self, start: float, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while True:
            index = bisect.bisect_left(self.voiced, start)  # arrival times only grow
            if index < len(self.voiced):
                return self.voiced[index]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._heard.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._heard.wait(), remaining)

    def stages_after(self, since: float) -> dict[str, float]:
        """The server's stage timings of the turn that ended at `since` (its turn_metrics)."""
        for arrived, message in self.messages:
            if arrived >= since and message.get("type") == "turn_metrics":
                return {k: v for k, v in message.items() if k.endswith("_ms") and v is not None}
        return {}

    async def answer_over(self, since: float, timeout: float) -> None:
        """Until the agent is listening again after `since` and its audio has stopped."""
        with contextlib.suppress(TimeoutError):
            await self.wait_for(lambda m: m == LISTENING, timeout, after=since)
        await asyncio.sleep(QUIET_S)


@dataclass
class Talker:
    index: int
    client: TalkingClient
    utterances: Sequence[np.ndarray]
    progress: asyncio.Event  # set as each turn ends
    turns: list[Turn] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    errors: list[str] = field(default_factory=list)

    async def run(self, rng: random.Random) -> None:
        """Ask, hear the answer out, pause, ask again, until cancelled."""
        await asyncio.sleep(rng.uniform(0.0, GAP_S[1]))  # sessions do not start in step
        question = self.index
        while True:
            audio = self.utterances[question % len(self.utterances)]
            question += 1
            end = await self.client.speak(audio, RATE)
            first = await self.client.first_voice_after(end, REPLY_TIMEOUT_S)
            v2v = None if first is None else round((first - end) * 1000, 1)
            turn = Turn(self.index, end, v2v)
            self.turns.append(turn)
            self.progress.set()
            if first is not None:
                await self.client.answer_over(first, timeout=60)
                turn.stages = self.client.stages_after(end)
            await asyncio.sleep(rng.uniform(*GAP_S))


async def _scrape(http: aiohttp.ClientSession, url: str) -> dict[str, tuple[float, float]]:
    """(sum, count) of each sharing histogram on the server's /metrics."""
    async with http.get(f"{url}/metrics") as response:
        response.raise_for_status()
        text = await response.text()
    found: dict[str, tuple[float, float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in SHARING_METRICS.values():
            continue
        values = {s.name: s.value for s in family.samples}
        found[family.name] = (values.get(f"{family.name}_sum", 0.0),
                              values.get(f"{family.name}_count", 0.0))  # fmt: skip
    return found


def _sharing_means(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]
) -> dict[str, dict[str, float | None]]:
    means: dict[str, dict[str, float | None]] = {}
    for key, metric in SHARING_METRICS.items():
        total = after.get(metric, (0.0, 0.0))[0] - before.get(metric, (0.0, 0.0))[0]
        count = after.get(metric, (0.0, 0.0))[1] - before.get(metric, (0.0, 0.0))[1]
        means[key] = {"mean": round(total / count, 2) if count else None, "count": count}
    return means


def judge_level(
    sessions: int, turns: list[Turn], sharing: dict[str, Any], max_p90_ms: float = MAX_P90_MS
) -> dict[str, Any]:
    """A level's figures; it holds when p90 voice-to-voice ≤ `max_p90_ms` and nothing went
    unanswered (an unanswered question counts as longer than any answer)."""
    answered = [t.voice_to_voice_ms for t in turns if t.voice_to_voice_ms is not None]
    unanswered = len(turns) - len(answered)
    scored = answered + [REPLY_TIMEOUT_S * 1000] * unanswered
    p50 = percentile(scored, 0.5) if scored else None
    p90 = percentile(scored, 0.9) if scored else None
    holds = bool(scored) and unanswered == 0 and p90 is not None and p90 <= max_p90_ms
    slowest = sorted(
        (t for t in turns if t.voice_to_voice_ms is not None),
        key=lambda t: -(t.voice_to_voice_ms or 0.0),
    )[:SLOWEST]
    return {
        "sessions": sessions,
        "turns": len(turns),
        "unanswered": unanswered,
        "voice_to_voice_ms": {"p50": p50, "p90": p90},
        "holds": holds,
        **sharing,
        # Where the slowest answers' time went, from the server's turn_metrics.
        "slowest": [{"voice_to_voice_ms": t.voice_to_voice_ms, **t.stages} for t in slowest],
    }


def cpu_per_turn(level: dict[str, Any], turns: list[Turn]) -> dict[str, Any]:
    """What one conversation turn costs, to size machines by: CPU seconds of the server and of
    the clients per question in the window, and how often each session asks (the median time
    between a session's questions). A machine's cores carry at most
    `cores × turn_interval_s / (server + clients CPU per turn)` sessions, at full load."""
    by_session: dict[int, list[float]] = {}
    for turn in turns:
        by_session.setdefault(turn.session, []).append(turn.speech_end)
    intervals = [b - a for ends in by_session.values() for a, b in itertools.pairwise(ends)]

    def per_turn(cpu_pct: float) -> float | None:
        return round(cpu_pct / 100 * level["window_s"] / len(turns), 3) if turns else None

    return {
        "server_cpu_s_per_turn": per_turn(level["server_cpu_pct"]),
        "client_cpu_s_per_turn": per_turn(level["client_cpu_pct"]),
        "turn_interval_s": round(percentile(intervals, 0.5), 2) if intervals else None,
    }


def talking_sessions(levels: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The largest level that held before the first that did not."""
    best = None
    for level in levels:
        if not level["holds"]:
            break
        best = level
    return best


class Ramp:
    def __init__(self, url: str, utterances: Sequence[np.ndarray], settings: CapacitySettings):
        self.url = url
        self.utterances = utterances
        self.settings = settings
        self.talkers: list[Talker] = []
        self.rng = random.Random(17)
        self.connect_errors: list[str] = []
        self.progress = asyncio.Event()  # set as any session's turn ends

    async def grow_to(self, sessions: int) -> None:
        async def connect(index: int) -> Talker:
            client = TalkingClient(self.url)
            await client.connect()
            return Talker(index, client, self.utterances, self.progress)

        new = range(len(self.talkers), sessions)
        made = await asyncio.gather(*(connect(i) for i in new), return_exceptions=True)
        for result in made:
            if isinstance(result, Talker):
                result.task = asyncio.ensure_future(result.run(self.rng))
                self.talkers.append(result)
            else:
                self.connect_errors.append(repr(result))

    async def window(self, http: aiohttp.ClientSession) -> tuple[list[Turn], dict[str, Any]]:
        """Wait out each session's warm-up, then until each has asked `turns_per_level`
        questions; returns those turns and the sharing figures over the window."""
        settings = self.settings
        deadline = time.monotonic() + settings.max_level_s
        counts = {t.index: len(t.turns) for t in self.talkers}
        warm = {
            t.index: counts[t.index] + (settings.warmup_turns if counts[t.index] == 0 else 0)
            for t in self.talkers
        }
        await self._until(
            lambda: all(len(t.turns) >= warm[t.index] for t in self.talkers), deadline
        )
        before = await _scrape(http, self.url)
        start = {t.index: len(t.turns) for t in self.talkers}
        await self._until(
            lambda: all(
                len(t.turns) - start[t.index] >= settings.turns_per_level for t in self.talkers
            ),
            deadline,
        )
        after = await _scrape(http, self.url)
        turns = [turn for t in self.talkers for turn in t.turns[start[t.index] :]]
        return turns, _sharing_means(before, after)

    async def _until(self, done: Callable[[], bool], deadline: float) -> None:
        """Until `done()` holds (checked as each turn ends) or `deadline` passes."""
        while not done() and (remaining := deadline - time.monotonic()) > 0:
            self.progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.progress.wait(), remaining)

    async def close(self) -> None:
        for talker in self.talkers:
            if talker.task is not None:
                talker.task.cancel()
        for talker in self.talkers:
            if talker.task is not None:
                with contextlib.suppress(BaseException):
                    await talker.task
        await asyncio.gather(*(t.client.close() for t in self.talkers), return_exceptions=True)


async def _ramp(
    url: str, utterances: Sequence[np.ndarray], settings: CapacitySettings, server: psutil.Process
) -> dict[str, Any]:
    tuning.apply(jitter_prefetch=0, host_addresses=["127.0.0.1"])
    ramp = Ramp(url, utterances, settings)
    me = psutil.Process()
    levels: list[dict[str, Any]] = []
    try:
        async with aiohttp.ClientSession() as http:
            for sessions in settings.levels:
                await ramp.grow_to(sessions)
                if len(ramp.talkers) < sessions:
                    log.warning("only %d sessions connected", len(ramp.talkers))
                    break
                server.cpu_percent(), me.cpu_percent()  # start both CPU windows
                began = time.monotonic()
                turns, sharing = await ramp.window(http)
                level = judge_level(sessions, turns, sharing, settings.max_p90_ms)
                level["window_s"] = round(time.monotonic() - began, 1)
                level["server_cpu_pct"] = round(server.cpu_percent(), 1)
                level["client_cpu_pct"] = round(me.cpu_percent(), 1)
                level.update(cpu_per_turn(level, turns))
                levels.append(level)
                log.info("capacity: %s", json.dumps(level))
                if not level["holds"]:
                    break
    finally:
        await ramp.close()
    best = talking_sessions(levels)
    return {
        "talking_sessions": best["sessions"] if best else 0,
        "voice_to_voice_ms": dict(best["voice_to_voice_ms"])
        if best
        else {"p50": None, "p90": None},
        "stt_batch_size": {"mean": best["stt_batch_size"]["mean"] if best else None},
        "llm_parallel": {"mean": best["llm_parallel"]["mean"] if best else None},
        "levels": levels,
        "connect_errors": ramp.connect_errors,
    }


async def _utterances(workdir: Path) -> list[np.ndarray]:
    """Every question in both voices, alternating; a session asks them in this order, so it
    never asks the same question twice in a row (the agent would rightly take its second
    "Paris." for a repeat and say it again, which is not what this measures)."""
    speech = SpeechMaker(workdir)
    made = []
    for turn in range(2):
        for index, text in enumerate(QUESTIONS):
            made.append(await speech.say(text, VOICES[(index + turn) % 2]))
    return made


def _run_mode(
    workdir: Path, name: str, utterances: list[np.ndarray], settings: CapacitySettings,
    env: dict[str, str],
) -> dict[str, Any]:  # fmt: skip
    mode_dir = workdir / name
    mode_dir.mkdir()
    started = time.monotonic()
    with load_server(mode_dir, max_sessions=max(settings.levels) + 2, env=env) as server:
        report = asyncio.run(_ramp(server.url, utterances, settings, server.process))
        report["server_errors"] = server.errors()
    report["config"] = env or "defaults"
    report["run_s"] = round(time.monotonic() - started, 1)
    return report


def run_capacity_bench(settings: CapacitySettings | None = None) -> dict[str, Any]:
    settings = settings or CapacitySettings()
    with tempfile.TemporaryDirectory(prefix="voxroom-capacity-") as tmp:
        workdir = Path(tmp)
        utterances = asyncio.run(_utterances(workdir))
        baseline = (
            _run_mode(workdir, "baseline", utterances, settings, BASELINE_ENV)
            if settings.compare
            else None
        )
        report = _run_mode(workdir, "shared", utterances, settings, {})
    if baseline is not None:
        report["baseline"] = baseline
        report["ratio_to_baseline"] = (
            round(report["talking_sessions"] / baseline["talking_sessions"], 2)
            if baseline["talking_sessions"]
            else None
        )
    report["machine"] = {"cpu_cores": psutil.cpu_count()}
    report["criteria"] = {"max_p90_ms": settings.max_p90_ms, "reply_timeout_s": REPLY_TIMEOUT_S}
    report["machine"]["load_average"] = [round(x, 2) for x in psutil.getloadavg()]
    report["settings"] = {
        "levels": list(settings.levels),
        "turns_per_level": settings.turns_per_level,
        "warmup_turns": settings.warmup_turns,
        "gap_s": list(GAP_S),
        "questions": len(utterances),
    }
    return report


def print_capacity_report(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    runs = [("baseline", report["baseline"])] if "baseline" in report else []
    runs.append(("shared", report))
    for name, run in runs:
        table = Table(
            "sessions", "turns", "v2v p50", "v2v p90", "unanswered", "stt batch", "llm parallel",
            "server %", "clients %", "server CPU s/turn", "turn every s", "holds",
            title=f"{name} ({run['config']})",
        )  # fmt: skip
        for level in run["levels"]:
            table.add_row(
                str(level["sessions"]),
                str(level["turns"]),
                str(level["voice_to_voice_ms"]["p50"]),
                str(level["voice_to_voice_ms"]["p90"]),
                str(level["unanswered"]),
                str(level["stt_batch_size"]["mean"]),
                str(level["llm_parallel"]["mean"]),
                str(level["server_cpu_pct"]),
                str(level["client_cpu_pct"]),
                str(level.get("server_cpu_s_per_turn")),
                str(level.get("turn_interval_s")),
                "yes" if level["holds"] else "NO",
            )
        console.print(table)
        console.print(
            f"{name}: talking_sessions {run['talking_sessions']} "
            f"(p50 {run['voice_to_voice_ms']['p50']} / p90 {run['voice_to_voice_ms']['p90']} ms)"
        )
    if report.get("ratio_to_baseline") is not None:
        console.print(f"ratio to baseline: {report['ratio_to_baseline']}")
