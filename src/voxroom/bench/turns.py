"""`voxroom bench turns`: the turn-taking eval set, run over a real session.

Scenarios (user speech from espeak-ng and Piper, made at run time):
- complete questions → end-of-turn delay;
- questions with a mid-sentence pause of 0.4–1.2 s → false cut-off (the agent spoke inside the
  pause, or the question was split into two turns);
- barge-ins at known offsets into the agent's speech → stop latency (user speech onset in the
  sent audio → last agent audio frame received, both on the client's clock);
- backchannels ("mm hmm") and noise bursts during agent speech → false interruption (the reply
  ended interrupted).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from voxroom.bench.harness import running_server
from voxroom.bench.latency import percentile
from voxroom.bench.speech import SpeechMaker, Voice
from voxroom.client import VoxroomClient
from voxroom.transport.p2p import tuning

COMPLETE = [
    "What is the capital of France in Europe?",
    "How many legs does a spider have?",
    "What is the largest ocean on Earth?",
    "Who wrote the play Romeo and Juliet?",
]
PAUSED = [
    ("What is the capital of", "France in Europe?"),
    ("Can you tell me how to", "make a cup of tea?"),
    ("I would like to know the name of", "the tallest mountain."),
    ("Please tell me a fun fact about", "the moon."),
    ("How many days are there in", "a leap year?"),
]
PAUSES_S = [0.4, 0.6, 0.8, 1.0, 1.2]
BACKCHANNELS = ["mm hmm", "yeah", "uh huh"]
BARGE_IN_OFFSETS_S = [0.4, 0.8, 1.2]
STORY = "Tell me a long story about a dragon, a knight and a princess."


def _agent_final(turn_id: int | None = None) -> Callable[[dict[str, Any]], bool]:
    def match(m: dict[str, Any]) -> bool:
        return (
            m.get("type") == "transcript"
            and m["role"] == "agent"
            and m["final"]
            and (turn_id is None or m["turn_id"] == turn_id)
        )

    return match


class TurnEval:
    def __init__(self, client: VoxroomClient, speech: SpeechMaker) -> None:
        self.client = client
        self.speech = speech

    async def _settle(self) -> None:
        """Wait until the agent is listening and nothing has happened for a while: a late
        transcript of the previous scenario's speech must not land in the next one."""
        for _ in range(600):  # at most 2 minutes
            if not self.client.messages or time.monotonic() - self.client.messages[-1][0] >= 2:
                break
            await asyncio.sleep(0.2)
        if self.client.messages and self.client.messages[-1][1] != {
            "type": "state",
            "state": "listening",
        }:
            await self.client.wait_for(
                lambda m: m == {"type": "state", "state": "listening"},
                90,
                after=time.monotonic() - 60,
            )
        await asyncio.sleep(0.8)

    def _user_turns_since(self, start: float) -> set[int]:
        return {
            m["turn_id"]
            for t, m in self.client.messages
            if t >= start and m.get("type") == "transcript" and m["role"] == "user"
        }

    async def complete(self, text: str, voice: Voice) -> dict[str, Any]:
        await self._settle()
        audio = await self.speech.say(text, voice)
        start, end = await self.client.speak_timed(audio, 16000)
        metrics = await self.client.wait_for(
            lambda m: m.get("type") == "turn_metrics", 90, after=start
        )
        await self.client.wait_for(_agent_final(metrics["turn_id"]), 90)
        first_audio = self.client.received.first_speech_after(end)
        return {
            "kind": "complete",
            "voice": voice,
            "text": text,
            "eot_delay_ms": metrics.get("eot_wait_ms"),
            "confirm_ms": metrics.get("confirm_ms"),
            "voice_to_voice_ms": round((first_audio - end) * 1000, 1) if first_audio else None,
        }

    async def paused(self, first: str, second: str, pause_s: float, voice: Voice) -> dict[str, Any]:
        await self._settle()
        head = await self.speech.say(first, voice)
        tail = await self.speech.say(second, voice)
        start, head_end = await self.client.speak_timed(head, 16000)
        await asyncio.sleep(pause_s)
        tail_start, _ = await self.client.speak_timed(tail, 16000)
        await self.client.wait_for(_agent_final(), 90, after=tail_start)
        spoke_in_pause = self.client.received.speech_seconds_between(head_end, tail_start) > 0.1
        turns = self._user_turns_since(start)
        return {
            "kind": "paused",
            "voice": voice,
            "pause_s": pause_s,
            "text": f"{first} … {second}",
            "heard": [
                m["text"]
                for _, m in self.client.messages
                if m.get("type") == "transcript"
                and m["role"] == "user"
                and m["final"]
                and m["turn_id"] in turns
            ][-1:],
            "false_cutoff": spoke_in_pause or len(turns) > 1,
        }

    async def _fresh_session(self) -> None:
        """Continue in a new session. The packaged base model's replies shrink as its context
        fills with the eval's chatter (the story came back as "Sure." and the trials at 0.8
        and 1.2 s found nothing to interrupt); with an empty context it tells a few seconds."""
        previous = self.client
        self.client = VoxroomClient(previous.base_url)
        await self.client.connect()
        await previous.close()

    async def _story_speaking(self) -> tuple[int, float]:
        """Ask for a long reply in a new session; return its turn id and when its audio
        started arriving."""
        await self._fresh_session()
        await self._settle()
        asked = time.monotonic()
        self.client.send({"type": "chat", "text": STORY})
        state = await self.client.wait_for(
            lambda m: m == {"type": "state", "state": "speaking"}, 90, after=asked
        )
        del state
        metrics = await self.client.wait_for(
            lambda m: m.get("type") == "turn_metrics", 10, after=asked
        )
        audio_start = self.client.received.first_speech_after(asked) or time.monotonic()
        return int(metrics["turn_id"]), audio_start

    def _agent_speaking_at(self, moment: float) -> bool:
        """Agent audio arrived within the 300 ms before `moment`: else the trial is void (the
        reply had already ended or paused between sentences: nothing to interrupt)."""
        return self.client.received.speech_seconds_between(moment - 0.3, moment) > 0.0

    async def barge_in(self, offset_s: float, voice: Voice) -> dict[str, Any]:
        # Synthesized first: the onset must land at the planned offset into the reply.
        words = await self.speech.say("Wait, stop, I have a different question.", voice)
        turn_id, audio_start = await self._story_speaking()
        await asyncio.sleep(max(0.0, audio_start + offset_s - time.monotonic()))
        onset, _ = await self.client.speak_timed(words, 16000)
        valid = self._agent_speaking_at(onset)
        final = await self.client.wait_for(_agent_final(turn_id), 30, after=audio_start)
        stopped = self.client.received.last_speech_before_gap(onset)
        # The interruption is a turn of its own: let it be transcribed and answered.
        user = await self.client.wait_for(
            lambda m: m.get("type") == "transcript" and m["role"] == "user" and m["final"],
            90,
            after=onset,
        )
        await self.client.wait_for(_agent_final(user["turn_id"]), 90, after=onset)
        return {
            "kind": "barge_in",
            "voice": voice,
            "offset_s": offset_s,
            "valid": valid,
            "interrupted": final.get("interrupted"),
            "stop_ms": round((stopped - onset) * 1000, 1) if stopped and valid else None,
        }

    async def false_interruption(self, kind: str, voice: Voice, text: str = "") -> dict[str, Any]:
        sound = (
            await self.speech.say(text, voice)
            if kind == "backchannel"
            else self.speech.noise_burst()
        )
        turn_id, audio_start = await self._story_speaking()
        await asyncio.sleep(max(0.0, audio_start + 0.6 - time.monotonic()))
        onset, _ = await self.client.speak_timed(sound, 16000)
        valid = self._agent_speaking_at(onset)
        final = await self.client.wait_for(_agent_final(turn_id), 90, after=audio_start)
        heard = [
            m["text"]
            for t, m in self.client.messages
            if t >= onset and m.get("type") == "transcript" and m["role"] == "user" and m["final"]
        ]
        return {
            "kind": kind,
            "voice": voice,
            "text": text,
            "heard": heard[:1],
            "valid": valid,
            "false_interruption": bool(final.get("interrupted")),
        }


async def run_eval(
    url: str, workdir: Path, voices: list[Voice], quick: bool
) -> list[dict[str, Any]]:
    client = VoxroomClient(url)
    speech = SpeechMaker(workdir)
    await client.connect()
    evaluation = TurnEval(client, speech)
    results: list[dict[str, Any]] = []
    try:
        for voice in voices:
            for text in COMPLETE[: 2 if quick else None]:
                results.append(await evaluation.complete(text, voice))
            pairs = list(zip(PAUSED, PAUSES_S, strict=True))
            for (first, second), pause in pairs[:: 2 if quick else 1]:
                results.append(await evaluation.paused(first, second, pause, voice))
            for offset in BARGE_IN_OFFSETS_S[: 2 if quick else None]:
                results.append(await evaluation.barge_in(offset, voice))
            for word in BACKCHANNELS[: 1 if quick else None]:
                results.append(await evaluation.false_interruption("backchannel", voice, word))
        results.append(await evaluation.false_interruption("noise", voices[0]))
    finally:
        await evaluation.client.close()
    return results


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    def values(kind: str, key: str) -> list[float]:
        return [float(r[key]) for r in results if r["kind"] == kind and r.get(key) is not None]

    def rate(flags: list[bool]) -> float:
        return round(sum(flags) / len(flags), 3) if flags else 0.0

    def stats(samples: list[float]) -> dict[str, float | None]:
        if not samples:
            return {"p50": None, "p90": None}
        return {"p50": percentile(samples, 0.5), "p90": percentile(samples, 0.9)}

    valid = [r for r in results if r.get("valid", True)]  # void: agent was not speaking
    cutoffs = [bool(r["false_cutoff"]) for r in valid if r["kind"] == "paused"]
    interruptions = [
        bool(r["false_interruption"]) for r in valid if r["kind"] in ("backchannel", "noise")
    ]
    barge = values("barge_in", "stop_ms")
    return {
        "barge_in_stop_ms": stats(barge),
        "barge_ins_interrupted_rate": rate(
            [bool(r["interrupted"]) for r in valid if r["kind"] == "barge_in"]
        ),
        "false_cutoff_rate": rate(cutoffs),
        "false_interruption_rate": rate(interruptions),
        "eot_delay_ms": stats(values("complete", "eot_delay_ms")),
        "confirm_delay_ms": stats(values("complete", "confirm_ms")),
        "voice_to_voice_ms": stats(values("complete", "voice_to_voice_ms")),
        "counts": {
            "complete": len(values("complete", "eot_delay_ms")),
            "paused": len(cutoffs),
            "barge_in": len(barge),
            "false_interruption_trials": len(interruptions),
            "void_trials": len(results) - len(valid),
        },
        "mean_barge_in_stop_ms": round(statistics.fmean(barge), 1) if barge else None,
        "results": results,
    }


def run_turns_bench(quick: bool = False, voices: list[Voice] | None = None) -> dict[str, Any]:
    tuning.apply(jitter_prefetch=0, host_addresses=["127.0.0.1"])
    with tempfile.TemporaryDirectory(prefix="voxroom-turns-") as tmp:
        workdir = Path(tmp)
        with running_server(workdir / "server.log") as url:
            results = asyncio.run(run_eval(url, workdir, voices or ["espeak", "piper"], quick))
    return summarize(results)


def print_turns_report(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table("figure", "value", "target")
    table.add_row(
        "barge-in stop p50 / p90 ms",
        f"{report['barge_in_stop_ms']['p50']} / {report['barge_in_stop_ms']['p90']}",
        "≤ 150",
    )
    table.add_row("false cut-off rate", str(report["false_cutoff_rate"]), "≤ 0.05")
    table.add_row("false interruption rate", str(report["false_interruption_rate"]), "≤ 0.05")
    table.add_row("end-of-turn delay p50 ms", str(report["eot_delay_ms"]["p50"]), "≤ 400")
    table.add_row("turn confirmed p50 ms", str(report["confirm_delay_ms"]["p50"]), "")
    table.add_row("voice-to-voice p50 ms", str(report["voice_to_voice_ms"]["p50"]), "")
    console.print(table)
    detail = Table("kind", "voice", "case", "outcome")
    for r in report["results"]:
        case = r.get("text") or r.get("offset_s")
        outcome = {k: v for k, v in r.items() if k not in ("kind", "voice", "text")}
        detail.add_row(r["kind"], r["voice"], str(case), json.dumps(outcome))
    console.print(detail)
