"""Pipecat's part of `bench overhead`; run inside its own venv: `python pipecat_anchor.py`.

Reads `{"script": <TurnScript>, "variant": "default" | "lean"}` as JSON on stdin and prints one
JSON line: `{"framework", "version", "variant", "settings", "records"}`.

The pipeline is the one Pipecat's examples build: transport in → STT → user aggregator (VAD,
turn strategies) → LLM → TTS → transport out → assistant aggregator, run by a PipelineWorker
with its default settings ("default": RTVI, turn tracking and the default Smart Turn v3 stop
strategy on) or with RTVI, metrics and turn tracking off ("lean"). Logging is at WARNING in
both, as in the other frameworks (loguru's default DEBUG output would be measured otherwise).

Start of the measure: a user-turn stop strategy calls `trigger_user_turn_stopped` (Pipecat's
end-of-turn decision; wrapped to read the clock). End: the output transport's first
`write_audio_frame` with sound in it. Fakes: an energy VAD analyzer, an STT that finalises
the transcript `stt_final_after_ms` into the silence, an LLM that pushes the reply word by word
and a TTS that yields one fixed chunk — none of them waits.
"""
# mypy: disable-error-code="import-not-found"
# mypy: allow-subclassing-any, allow-untyped-calls, allow-any-generics

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import sys
from collections.abc import AsyncGenerator
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

import numpy as np
from loguru import logger
from pipecat.audio.vad.vad_analyzer import VADAnalyzer
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    OutputAudioRawFrame,
    StartFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.llm_service import LLMService
from pipecat.services.settings import LLMSettings, ServiceSettings, STTSettings, TTSSettings
from pipecat.services.stt_service import STTService
from pipecat.services.tts_service import TTSService
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import BaseTransport, TransportParams
from pipecat.turns.user_stop.base_user_turn_stop_strategy import BaseUserTurnStopStrategy
from pipecat.workers.runner import WorkerRunner

if TYPE_CHECKING:
    from voxroom.bench.anchors import turnscript
else:  # run as a script in the anchor venv: voxroom is not installed, this folder is on sys.path
    import turnscript


# --- instant fakes -------------------------------------------------------------------------
def no_settings(kind: type[ServiceSettings]) -> Any:
    """Settings with every field None ("unsupported"), as Pipecat asks of services."""
    return kind(**{f.name: None for f in dataclasses.fields(kind) if f.name != "extra"})


class EnergyVADAnalyzer(VADAnalyzer):
    def __init__(self, script: turnscript.TurnScript) -> None:
        super().__init__()
        self._script = script

    def num_frames_required(self) -> int:
        return 512 if self.sample_rate == 16000 else 256

    def voice_confidence(self, buffer: bytes) -> float:
        return 1.0 if self._script.is_voiced(np.frombuffer(buffer, dtype=np.int16)) else 0.0


class InstantSTT(STTService):
    """A streaming STT whose final transcript lands `stt_final_after_ms` into the silence."""

    def __init__(self, script: turnscript.TurnScript) -> None:
        super().__init__(settings=no_settings(STTSettings))
        self._script = script
        self._heard_speech = False
        self._silence_ms = 0.0

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame | None, None]:
        samples = np.frombuffer(audio, dtype=np.int16)
        if self._script.is_voiced(samples):
            self._heard_speech, self._silence_ms = True, 0.0
        elif self._heard_speech:
            self._silence_ms += 1000 * samples.size / self._script.in_rate
            if self._silence_ms >= self._script.stt_final_after_ms:
                self._heard_speech = False
                yield TranscriptionFrame(
                    self._script.transcript,
                    "",
                    datetime.datetime.now(datetime.UTC).isoformat(),
                    finalized=True,
                )
        yield None


class InstantLLM(LLMService):
    def __init__(self, script: turnscript.TurnScript) -> None:
        super().__init__(settings=no_settings(LLMSettings))
        self._tokens = script.reply_tokens()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame):  # as Pipecat's OpenAI service does
            await self.push_frame(LLMFullResponseStartFrame())
            await self.start_processing_metrics()
            for token in self._tokens:
                await self._push_llm_text(token)
            await self.stop_processing_metrics()
            await self.push_frame(LLMFullResponseEndFrame())
        else:
            await self.push_frame(frame, direction)


class InstantTTS(TTSService):
    def __init__(self, script: turnscript.TurnScript) -> None:
        super().__init__(
            push_start_frame=True,
            push_stop_frames=True,
            sample_rate=script.tts_rate,
            settings=no_settings(TTSSettings),
        )
        self._chunk = script.tts_chunk().tobytes()
        self._rate = script.tts_rate

    def can_generate_metrics(self) -> bool:
        return True

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame, None]:
        yield TTSAudioRawFrame(self._chunk, self._rate, 1, context_id=context_id)


# --- transport ------------------------------------------------------------------------------
class BenchInput(BaseInputTransport):
    def __init__(self, params: TransportParams, ready: asyncio.Event) -> None:
        super().__init__(params)
        self._ready = ready

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        await self.set_transport_ready(frame)
        self._ready.set()


class BenchOutput(BaseOutputTransport):
    def __init__(self, params: TransportParams, probe: turnscript.TurnProbe) -> None:
        super().__init__(params)
        self._probe = probe

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        await self.set_transport_ready(frame)

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        """Like a sound device (Pipecat's local transport): the write takes the frame's time."""
        self._probe.written(frame.audio)
        await asyncio.sleep(len(frame.audio) / 2 / frame.sample_rate)
        return True


class BenchTransport(BaseTransport):
    def __init__(self, script: turnscript.TurnScript, probe: turnscript.TurnProbe) -> None:
        super().__init__()
        params = TransportParams(
            audio_in_enabled=True,
            audio_in_sample_rate=script.in_rate,
            audio_out_enabled=True,
            audio_out_sample_rate=script.tts_rate,
        )
        self.ready = asyncio.Event()
        self._input = BenchInput(params, self.ready)
        self._output = BenchOutput(params, probe)

    def input(self) -> BenchInput:
        return self._input

    def output(self) -> BenchOutput:
        return self._output


# --- the run --------------------------------------------------------------------------------
def hook_decisions(probe: turnscript.TurnProbe) -> None:
    original = BaseUserTurnStopStrategy.trigger_user_turn_stopped

    async def trigger_user_turn_stopped(self: Any, **kwargs: Any) -> None:
        probe.decided()
        await original(self, **kwargs)

    BaseUserTurnStopStrategy.trigger_user_turn_stopped = trigger_user_turn_stopped


async def run(script: turnscript.TurnScript, variant: str) -> dict[str, Any]:
    probe = turnscript.TurnProbe()
    hook_decisions(probe)
    transport = BenchTransport(script, probe)
    context = LLMContext([{"role": "system", "content": script.instructions}])
    user, assistant = LLMContextAggregatorPair(
        context, user_params=LLMUserAggregatorParams(vad_analyzer=EnergyVADAnalyzer(script))
    )
    pipeline = Pipeline(
        [
            transport.input(),
            InstantSTT(script),
            user,
            InstantLLM(script),
            InstantTTS(script),
            transport.output(),
            assistant,
        ]
    )
    if variant == "default":
        worker = PipelineWorker(pipeline)
        settings = "PipelineWorker defaults: RTVI, turn tracking, Smart Turn v3 stop"
    else:
        worker = PipelineWorker(
            pipeline,
            enable_rtvi=False,
            enable_turn_tracking=False,
            params=PipelineParams(enable_metrics=False, enable_usage_metrics=False),
        )
        settings = "RTVI, metrics and turn tracking off; Smart Turn v3 stop"
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    running = asyncio.create_task(runner.run())
    await asyncio.wait_for(transport.ready.wait(), timeout=60)
    source = transport.input()

    async def push(samples: np.ndarray) -> None:
        frame = InputAudioRawFrame(samples.tobytes(), script.in_rate, 1)
        await source.push_audio_frame(frame)

    try:
        records = await turnscript.drive_turns(script, probe, push)
    finally:
        await runner.cancel()
        await asyncio.wait_for(running, timeout=30)
    return {
        "framework": "pipecat",
        "version": version("pipecat-ai"),
        "variant": variant,
        "settings": settings + "; loguru at WARNING",
        "records": records,
    }


def main() -> None:
    request = json.loads(sys.stdin.read())
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    script = turnscript.TurnScript(**request["script"])
    result = asyncio.run(run(script, request.get("variant", "default")))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
