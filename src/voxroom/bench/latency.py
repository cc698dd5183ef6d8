"""`voxroom bench latency`: voice-to-voice latency over real aiortc sessions.

Voice-to-voice = end of the user's speech in the audio we send → first agent audio we
receive (both measured at the client, on one clock). Stage figures come from the server's
per-turn `turn_metrics`; `transport_ms` is what the client saw beyond the server's own total.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from voxroom.bench.harness import espeak_wav, running_server, trim_silence
from voxroom.client import VoxroomClient
from voxroom.media.audio import read_wav
from voxroom.transport.webrtc import tuning

QUESTIONS = [
    "What is the capital of France?",
    "How do I make a cup of tea?",
    "What is the tallest mountain in the world?",
    "Can you tell me a fun fact?",
    "What color is the sky?",
    "How many days are in a week?",
    "Who wrote Romeo and Juliet?",
    "What is the largest ocean?",
]
# What a naive pipeline waits before it even starts (the figure measured for Pipecat's
# and for a plain VAD pipeline on this machine: 0.4 s of silence).
SEQUENTIAL_EOT_WAIT_MS = 400.0
STAGES = ["eot_wait_ms", "stt_ms", "llm_first_token_ms", "first_sentence_ms", "tts_first_chunk_ms"]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return round(ordered[index], 1)


async def _run_turns(url: str, audio_dir: Path, turns: int) -> list[dict[str, Any]]:
    client = VoxroomClient(url)
    results: list[dict[str, Any]] = []
    await client.connect()
    try:
        await asyncio.sleep(0.5)
        for index in range(turns):
            question = QUESTIONS[index % len(QUESTIONS)]
            samples, rate = read_wav(espeak_wav(question, audio_dir / f"q{index}.wav"))
            speech_end = await client.speak(trim_silence(samples), rate)
            reply = await client.wait_for(
                lambda m: m.get("type") == "transcript" and m["role"] == "agent" and m["final"],
                timeout=90,
                after=speech_end,
            )
            metrics = await client.wait_for(
                lambda m: m.get("type") == "turn_metrics", timeout=5, after=speech_end
            )
            first_audio = client.received.first_speech_after(speech_end)
            await client.wait_for(
                lambda m: m == {"type": "state", "state": "listening"},
                30,
                after=time.monotonic() - 0.05,
            )
            await asyncio.sleep(0.8)  # a quiet gap before the next question
            if first_audio is None:
                continue
            voice_to_voice = (first_audio - speech_end) * 1000
            results.append(
                {
                    "question": question,
                    "heard": next(
                        (
                            m["text"]
                            for _, m in reversed(client.messages)
                            if m.get("type") == "transcript" and m["role"] == "user" and m["final"]
                        ),
                        "",
                    ),
                    "reply": reply["text"],
                    "voice_to_voice_ms": round(voice_to_voice, 1),
                    "transport_ms": round(voice_to_voice - float(metrics.get("total_ms") or 0), 1),
                    **{stage: metrics.get(stage) for stage in STAGES},
                    "speculative_stt": metrics.get("speculative_stt"),
                }
            )
    finally:
        await client.close()
    return results


@dataclass(frozen=True, slots=True)
class SequentialTurn:
    """One turn of the naive pipeline, its STT timed both ways on the same audio."""

    stt_full_window_ms: float  # faster-whisper's own transcribe: the fixed 30 s window
    stt_fitted_ms: float  # voxroom's Whisper provider (window fitted to the utterance)
    reply_ms: float  # first sentence from the LLM, then the first chunk of its synthesis

    def total_ms(self, stt_ms: float, transport_ms: float) -> float:
        return SEQUENTIAL_EOT_WAIT_MS + stt_ms + self.reply_ms + transport_ms


async def _sequential_turns(audio_dir: Path, turns: int) -> list[SequentialTurn]:
    """The same models strictly one after another, as a naive pipeline runs them: wait out
    the end-of-turn silence, transcribe, generate up to the first sentence, synthesize its
    first chunk, send (the transport time measured for voxroom in this run). A naive
    pipeline transcribes with faster-whisper's own call (Whisper's 30 s window); the run
    also times voxroom's fitted-window transcription, to show what overlap alone gains."""
    from voxroom.agent.chunking import SentenceChunker
    from voxroom.agent.context import ChatContext, UserTurn
    from voxroom.apps.assistant import Assistant
    from voxroom.config import ModelsConfig
    from voxroom.media.audio import resample
    from voxroom.providers.base import LLMRequest
    from voxroom.providers.factory import load_models

    models = load_models(ModelsConfig())
    full_window = load_models(ModelsConfig(stt_fitted_window=False)).stt
    measured: list[SequentialTurn] = []
    for index in range(turns):
        question = QUESTIONS[index % len(QUESTIONS)]
        samples, rate = read_wav(espeak_wav(question, audio_dir / f"seq{index}.wav"))
        audio = resample(trim_silence(samples), rate, 16000)
        stt_ms = []
        for stt in (full_window, models.stt):
            started = time.monotonic()
            transcript = await stt.transcribe(audio)
            stt_ms.append((time.monotonic() - started) * 1000)
        started = time.monotonic()
        context = ChatContext(Assistant.instructions, Assistant.examples)
        request = LLMRequest(context.messages_for(UserTurn(index, transcript.text, "voice")))
        chunker, sentence = SentenceChunker(), None
        stream = models.llm.stream(request)
        async for delta in stream:
            if pieces := chunker.push(delta):
                sentence = pieces[0]
                break
        await stream.aclose()  # type: ignore[attr-defined]
        sentence = sentence or chunker.flush() or "Okay."
        async for _ in models.tts.synthesize(sentence):
            break
        measured.append(SequentialTurn(stt_ms[0], stt_ms[1], (time.monotonic() - started) * 1000))
    return measured


def run_latency_bench(turns: int) -> dict[str, Any]:
    tuning.apply(jitter_prefetch=0, host_addresses=["127.0.0.1"])
    with tempfile.TemporaryDirectory(prefix="voxroom-bench-") as tmp:
        workdir = Path(tmp)
        with running_server(workdir / "server.log") as url:
            results = asyncio.run(_run_turns(url, workdir, turns))
        if not results:
            raise RuntimeError("no turn produced agent audio")
        transport = statistics.median(r["transport_ms"] for r in results)
        baseline = asyncio.run(_sequential_turns(workdir, turns))
    sequential = [t.total_ms(t.stt_full_window_ms, transport) for t in baseline]
    same_stt = [t.total_ms(t.stt_fitted_ms, transport) for t in baseline]
    v2v = [r["voice_to_voice_ms"] for r in results]
    stage_values = {
        stage: [float(r[stage]) for r in results if r.get(stage) is not None]
        for stage in [*STAGES, "transport_ms"]
    }
    return {
        "turns": len(results),
        "voice_to_voice_ms": {
            "p50": percentile(v2v, 0.5),
            "p90": percentile(v2v, 0.9),
            "mean": round(statistics.fmean(v2v), 1),
        },
        "stages": {
            s: {"p50": percentile(v, 0.5), "p90": percentile(v, 0.9)}
            for s, v in stage_values.items()
            if v
        },
        "sequential_ms": {"p50": percentile(sequential, 0.5), "p90": percentile(sequential, 0.9)},
        "ratio_to_sequential": round(percentile(v2v, 0.5) / percentile(sequential, 0.5), 3),
        "sequential_stages_ms": {
            "eot_wait_ms": SEQUENTIAL_EOT_WAIT_MS,
            "stt_full_window_ms": percentile([t.stt_full_window_ms for t in baseline], 0.5),
            "stt_fitted_ms": percentile([t.stt_fitted_ms for t in baseline], 0.5),
            "reply_ms": percentile([t.reply_ms for t in baseline], 0.5),
            "transport_ms": round(transport, 1),
        },
        # The same baseline given voxroom's faster transcription: what overlapping the
        # stages gains by itself.
        "sequential_fitted_stt_ms": {
            "p50": percentile(same_stt, 0.5),
            "p90": percentile(same_stt, 0.9),
        },
        "ratio_to_sequential_fitted_stt": round(
            percentile(v2v, 0.5) / percentile(same_stt, 0.5), 3
        ),
        "per_turn": results,
    }


def print_report(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    console = Console()
    v2v = report["voice_to_voice_ms"]
    console.print(
        f"voice-to-voice over {report['turns']} turns: p50 {v2v['p50']} ms, p90 {v2v['p90']} ms"
        f"; sequential baseline p50 {report['sequential_ms']['p50']} ms"
        f"; ratio to sequential {report['ratio_to_sequential']}"
    )
    console.print(
        f"the same baseline with voxroom's fitted-window Whisper: p50 "
        f"{report['sequential_fitted_stt_ms']['p50']} ms"
        f"; ratio {report['ratio_to_sequential_fitted_stt']}"
    )
    baseline = Table("sequential stage", "p50 ms")
    for stage, value in report["sequential_stages_ms"].items():
        baseline.add_row(stage, str(value))
    console.print(baseline)
    table = Table("stage", "p50 ms", "p90 ms")
    for stage, values in report["stages"].items():
        table.add_row(stage, str(values["p50"]), str(values["p90"]))
    console.print(table)
    turns = Table("question", "heard", "reply", "v2v ms")
    for turn in report["per_turn"]:
        turns.add_row(
            turn["question"], turn["heard"], turn["reply"], str(turn["voice_to_voice_ms"])
        )
    console.print(turns)
