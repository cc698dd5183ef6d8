"""voxroom's part of `bench overhead`: a real AgentSession, an in-memory transport, instant fakes.

Start of the measure: `TurnDetector.update` returns END_OF_TURN (the engine's own decision,
wrapped for the run; the wrapper only reads the clock). End: the first non-silent samples
handed to the transport's `AudioSink.push`. Everything between — finalising the (speculative)
transcript, events and client messages, the agent hook, the LLM request, sentence chunking,
TTS, the sink — is the engine's. The fakes return at once and never sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, ClassVar

import numpy as np

from voxroom.agent.agent import Agent
from voxroom.agent.session import AgentSession
from voxroom.agent.turns import TurnDetector, TurnEvent
from voxroom.audit import events as ev
from voxroom.bench.anchors.turnscript import INSTRUCTIONS, TurnProbe, TurnScript, drive_turns
from voxroom.config import VoxroomConfig
from voxroom.providers.base import (
    LLM,
    STT,
    TTS,
    VAD,
    LLMRequest,
    SpeechAudio,
    Transcript,
    VADStream,
)
from voxroom.providers.factory import ModelSet
from voxroom.transport.base import AudioObserver, AudioSink, Marker, ParticipantInfo
from voxroom.transport.memory import MemoryTransport

BREAKDOWN = ("stt_ms", "first_sentence_ms", "tts_first_chunk_ms")


# --- instant fake providers ----------------------------------------------------------------
class _EnergyVADStream(VADStream):
    def __init__(self, script: TurnScript) -> None:
        self._script = script

    async def probability(self, block: np.ndarray) -> float:
        return 1.0 if self._script.is_voiced(block) else 0.0


class EnergyVAD(VAD):
    def __init__(self, script: TurnScript) -> None:
        self._script = script

    def create_stream(self) -> VADStream:
        return _EnergyVADStream(self._script)


class InstantSTT(STT):
    name = "instant-stt"

    def __init__(self, script: TurnScript) -> None:
        self._text = script.transcript

    async def transcribe(
        self,
        samples: np.ndarray,
        hints: Sequence[str] = (),
        language: str | None = None,
        *,
        english: bool = False,
    ) -> Transcript:
        return Transcript(self._text, audio_seconds=samples.size / self.sample_rate)


class InstantLLM(LLM):
    name = "instant-llm"
    model = "fixed-reply"

    def __init__(self, script: TurnScript) -> None:
        self._tokens = script.reply_tokens()

    async def stream(self, request: LLMRequest) -> AsyncIterator[str]:
        for token in self._tokens:
            yield token
        request.usage.finish_reason = "stop"


class InstantTTS(TTS):
    name = "instant-tts"

    def __init__(self, script: TurnScript) -> None:
        self._chunk = SpeechAudio(script.tts_chunk(), script.tts_rate)

    async def synthesize(self, text: str) -> AsyncIterator[SpeechAudio]:
        yield self._chunk


class BenchAgent(Agent):
    name = "bench agent"
    instructions = INSTRUCTIONS
    examples: ClassVar[list[tuple[str, str]]] = []


# --- in-memory transport -------------------------------------------------------------------
class ProbeSink(AudioSink):
    """Reports the first sound to the probe and plays out in real time: a marker fires once
    the audio queued before it has had its duration (no resampling, no 20 ms framing)."""

    def __init__(self, probe: TurnProbe) -> None:
        self._probe = probe
        self._played_before = 0.0  # seconds played out by earlier, finished playouts
        self._started = 0.0  # loop time the current playout began
        self._queued = 0.0  # seconds in the current playout
        self._observers: list[AudioObserver] = []

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _settle(self) -> None:
        if self._queued and self._now() >= self._started + self._queued:
            self._played_before += self._queued
            self._queued = 0.0

    def push(self, samples: np.ndarray, sample_rate: int) -> None:
        self._probe.written(samples)
        for observer in self._observers:
            observer(samples, sample_rate)
        self._settle()
        if not self._queued:
            self._started = self._now()
        self._queued += samples.size / sample_rate

    def mark(self, on_played: Marker) -> None:
        delay = max(0.0, self._started + self._queued - self._now()) if self._queued else 0.0
        asyncio.get_running_loop().call_later(delay, on_played)

    def clear(self) -> float:
        self._settle()
        dropped = self.queued_seconds
        self._played_before += self._queued - dropped
        self._queued = 0.0
        return dropped

    def pause(self) -> None:
        pass

    def resume(self) -> None:
        pass

    @property
    def queued_seconds(self) -> float:
        if not self._queued:
            return 0.0
        return max(0.0, self._started + self._queued - self._now())

    @property
    def played_seconds(self) -> float:
        return self._played_before + self._queued - self.queued_seconds

    def observe(self, observer: AudioObserver) -> None:
        # No paced frames here: observers see the audio as it is written (nothing observes
        # in the bench, but the sink keeps the AudioSink contract).
        self._observers.append(observer)


# --- the run -------------------------------------------------------------------------------
@contextlib.contextmanager
def end_of_turn_hook(probe: TurnProbe) -> Iterator[None]:
    """Report the engine's END_OF_TURN decisions to `probe` for the duration of the block."""
    original = TurnDetector.update

    def update(self: TurnDetector, probability: float) -> TurnEvent | None:
        event = original(self, probability)
        if event is TurnEvent.END_OF_TURN:
            probe.decided()
        return event

    TurnDetector.update = update  # type: ignore[method-assign]
    try:
        yield
    finally:
        TurnDetector.update = original  # type: ignore[method-assign]


async def run_voxroom_turns(script: TurnScript) -> dict[str, Any]:
    """Drive one session through the script; per-turn records and the engine's breakdown."""
    probe = TurnProbe()
    transport = MemoryTransport(ProbeSink(probe))
    transport.keep_sent = False
    user = transport.join(ParticipantInfo("bench-user"))
    models = ModelSet(
        vad=EnergyVAD(script),
        stt=InstantSTT(script),
        llm=InstantLLM(script),
        tts=InstantTTS(script),
    )
    session = AgentSession("bench-overhead", BenchAgent(), transport, models, VoxroomConfig())
    metrics: list[ev.TurnMetricsRecorded] = []
    session.log.subscribe(
        lambda event: metrics.append(event) if isinstance(event, ev.TurnMetricsRecorded) else None
    )
    with end_of_turn_hook(probe):
        task = asyncio.create_task(session.run())
        try:
            records = await drive_turns(script, probe, user.push)
        finally:
            await transport.close()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=5)
    counted = metrics[script.warmup :]
    breakdown = {
        stage: round(statistics.median(values), 2)
        for stage in BREAKDOWN
        if (values := [float(v) for m in counted if (v := getattr(m, stage)) is not None])
    }
    return {"records": records, "engine_breakdown_p50_ms": breakdown}


def measure_voxroom(script: TurnScript) -> dict[str, Any]:
    return asyncio.run(run_voxroom_turns(script))
