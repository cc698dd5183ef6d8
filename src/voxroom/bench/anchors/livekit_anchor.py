"""LiveKit Agents' part of `bench overhead`; run inside its own venv: `python livekit_anchor.py`.

Reads `{"script": <TurnScript>, "variant": "default" | "no_preemptive"}` as JSON on stdin and
prints one JSON line: `{"framework", "version", "variant", "settings", "records"}`.

An `AgentSession` with custom in-process audio I/O (no LiveKit server, no room), the same way
LiveKit's own tests drive it, with the transcript synchronizer RoomIO puts in front of the audio
output by default. Defaults throughout except `turn_detection="vad"`: the default
turn detector is LiveKit's hosted inference service (or a model downloaded at run time),
neither of which the bench may use. "default" keeps preemptive generation on (LiveKit's
default: the LLM starts on the final transcript, before the turn is committed);
"no_preemptive" turns it off.

Start of the measure: `AgentActivity.on_end_of_turn` is called (LiveKit's end-of-turn commit;
wrapped to read the clock). End: the first frame with sound that reaches the session's audio
output. Fakes: an energy VAD (LiveKit's Silero defaults: 50 ms speech, 550 ms silence), a
streaming STT whose final transcript lands `stt_final_after_ms` into the silence, an LLM that
streams the reply word by word and a TTS that returns one fixed chunk — none of them waits.
"""
# mypy: disable-error-code="import-not-found"
# mypy: allow-subclassing-any, allow-untyped-calls, allow-any-generics

from __future__ import annotations

import asyncio
import json
import sys
import time
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

import numpy as np
from livekit import rtc
from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    Agent,
    AgentSession,
    APIConnectOptions,
    TurnHandlingOptions,
    llm,
    stt,
    tts,
    utils,
    vad,
)
from livekit.agents.voice.agent_activity import AgentActivity
from livekit.agents.voice.io import AudioInput, AudioOutput, AudioOutputCapabilities, TextOutput
from livekit.agents.voice.transcription.synchronizer import TranscriptSynchronizer

if TYPE_CHECKING:
    from voxroom.bench.anchors import turnscript
else:  # run as a script in the anchor venv: voxroom is not installed, this folder is on sys.path
    import turnscript

MIN_SPEECH_S = 0.05  # livekit-plugins-silero defaults
MIN_SILENCE_S = 0.55


def samples_of(frame: rtc.AudioFrame) -> np.ndarray:
    return np.frombuffer(frame.data, dtype=np.int16)


# --- instant fakes -------------------------------------------------------------------------
class EnergyVAD(vad.VAD):
    def __init__(self, script: turnscript.TurnScript) -> None:
        super().__init__(capabilities=vad.VADCapabilities(update_interval=script.frame_ms / 1000))
        self.script = script

    def stream(self) -> vad.VADStream:
        return EnergyVADStream(self)


class EnergyVADStream(vad.VADStream):
    """Silero-like events from frame energy: INFERENCE_DONE per frame, START/END_OF_SPEECH."""

    def __init__(self, detector: EnergyVAD) -> None:
        super().__init__(detector)
        self._script = detector.script

    async def _main_task(self) -> None:
        speaking = False
        speech_s = silence_s = 0.0
        samples_index = 0
        async for item in self._input_ch:
            if not isinstance(item, rtc.AudioFrame):
                continue
            duration = item.samples_per_channel / item.sample_rate
            samples_index += item.samples_per_channel
            voiced = self._script.is_voiced(samples_of(item))
            if voiced:
                speech_s, silence_s = speech_s + duration, 0.0
            else:
                silence_s += duration
                if not speaking:
                    speech_s = 0.0
            kind: vad.VADEventType | None = None
            if not speaking and speech_s >= MIN_SPEECH_S:
                speaking, kind = True, vad.VADEventType.START_OF_SPEECH
            elif speaking and silence_s >= MIN_SILENCE_S:
                speaking, kind = False, vad.VADEventType.END_OF_SPEECH
            self._send(
                vad.VADEventType.INFERENCE_DONE,
                voiced,
                speaking,
                speech_s,
                silence_s,
                samples_index,
                [item],
            )
            if kind is not None:
                self._send(kind, voiced, speaking, speech_s, silence_s, samples_index, [item])
            if kind is vad.VADEventType.END_OF_SPEECH:
                speech_s = 0.0

    def _send(
        self,
        kind: vad.VADEventType,
        voiced: bool,
        speaking: bool,
        speech_s: float,
        silence_s: float,
        samples_index: int,
        frames: list[rtc.AudioFrame],
    ) -> None:
        self._event_ch.send_nowait(
            vad.VADEvent(
                type=kind,
                samples_index=samples_index,
                timestamp=samples_index / self._script.in_rate,
                speech_duration=speech_s,
                silence_duration=silence_s,
                frames=frames,
                probability=1.0 if voiced else 0.0,
                speaking=speaking,
                raw_accumulated_speech=speech_s if voiced else 0.0,
                raw_accumulated_silence=silence_s,
            )
        )


class InstantSTT(stt.STT):
    def __init__(self, script: turnscript.TurnScript) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=True, interim_results=False))
        self.script = script

    async def _recognize_impl(
        self, buffer: Any, *, language: Any = None, conn_options: APIConnectOptions = None
    ) -> stt.SpeechEvent:
        return final_transcript(self.script.transcript)

    def stream(
        self,
        *,
        language: Any = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.RecognizeStream:
        return InstantRecognizeStream(self, conn_options)


def final_transcript(text: str) -> stt.SpeechEvent:
    return stt.SpeechEvent(
        type=stt.SpeechEventType.FINAL_TRANSCRIPT,
        alternatives=[stt.SpeechData(text=text, language="en")],
    )


class InstantRecognizeStream(stt.RecognizeStream):
    """A streaming recognizer whose final transcript lands `stt_final_after_ms` into silence."""

    def __init__(self, recognizer: InstantSTT, conn_options: APIConnectOptions) -> None:
        super().__init__(stt=recognizer, conn_options=conn_options)
        self._script = recognizer.script

    async def _run(self) -> None:
        heard_speech, silence_ms = False, 0.0
        async for item in self._input_ch:
            if not isinstance(item, rtc.AudioFrame):
                continue
            if self._script.is_voiced(samples_of(item)):
                heard_speech, silence_ms = True, 0.0
            elif heard_speech:
                silence_ms += 1000 * item.samples_per_channel / item.sample_rate
                if silence_ms >= self._script.stt_final_after_ms:
                    heard_speech = False
                    self._event_ch.send_nowait(final_transcript(self._script.transcript))


class InstantLLM(llm.LLM):
    def __init__(self, script: turnscript.TurnScript) -> None:
        super().__init__()
        self.tokens = script.reply_tokens()

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[Any] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        **kwargs: Any,
    ) -> llm.LLMStream:
        return InstantLLMStream(
            self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options
        )


class InstantLLMStream(llm.LLMStream):
    async def _run(self) -> None:
        assert isinstance(self._llm, InstantLLM)
        for token in self._llm.tokens:
            self._event_ch.send_nowait(
                llm.ChatChunk(id="instant", delta=llm.ChoiceDelta(role="assistant", content=token))
            )


class InstantTTS(tts.TTS):
    def __init__(self, script: turnscript.TurnScript) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=script.tts_rate,
            num_channels=1,
        )
        self.chunk = script.tts_chunk().tobytes()

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        return InstantChunkedStream(tts=self, input_text=text, conn_options=conn_options)


class InstantChunkedStream(tts.ChunkedStream):
    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        assert isinstance(self._tts, InstantTTS)
        output_emitter.initialize(
            request_id=utils.shortuuid("instant_"),
            sample_rate=self._tts.sample_rate,
            num_channels=1,
            mime_type="audio/pcm",
        )
        output_emitter.push(self._tts.chunk)
        output_emitter.flush()


# --- audio I/O ------------------------------------------------------------------------------
class BenchAudioInput(AudioInput):
    def __init__(self) -> None:
        super().__init__(label="bench")
        self._frames: asyncio.Queue[rtc.AudioFrame] = asyncio.Queue()

    async def __anext__(self) -> rtc.AudioFrame:
        return await self._frames.get()

    def push(self, frame: rtc.AudioFrame) -> None:
        self._frames.put_nowait(frame)


class BenchAudioOutput(AudioOutput):
    """Reports the first sound to the probe and plays out in real time (as LiveKit's own test
    output does): a segment finishes once its pushed duration has elapsed after its start."""

    def __init__(self, probe: turnscript.TurnProbe, sample_rate: int) -> None:
        super().__init__(
            label="bench",
            capabilities=AudioOutputCapabilities(pause=False),
            sample_rate=sample_rate,
        )
        self._probe = probe
        self._pushed_s = 0.0
        self._started_at = 0.0
        self._finish_handle: asyncio.TimerHandle | None = None

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        self._probe.written(bytes(frame.data))
        if not self._pushed_s:
            self._started_at = time.time()
            self.on_playback_started(created_at=self._started_at)
        self._pushed_s += frame.duration

    def flush(self) -> None:
        super().flush()
        if not self._pushed_s:
            return
        if self._finish_handle is not None:
            self._finish_handle.cancel()
        remaining = self._pushed_s - (time.time() - self._started_at)
        self._finish_handle = asyncio.get_running_loop().call_later(
            max(0.0, remaining), self._finish, False
        )

    def clear_buffer(self) -> None:
        if self._finish_handle is not None:
            self._finish_handle.cancel()
        if self._pushed_s:
            self._finish(True)

    def _finish(self, interrupted: bool) -> None:
        self._finish_handle = None
        played = min(self._pushed_s, time.time() - self._started_at)
        self.on_playback_finished(playback_position=played, interrupted=interrupted)
        self._pushed_s = 0.0


class DiscardText(TextOutput):
    def __init__(self) -> None:
        super().__init__(label="bench", next_in_chain=None)

    async def capture_text(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass


# --- the run --------------------------------------------------------------------------------
def hook_decisions(probe: turnscript.TurnProbe) -> None:
    original = AgentActivity.on_end_of_turn

    def on_end_of_turn(self: AgentActivity, info: Any) -> bool:
        probe.decided()
        return bool(original(self, info))

    AgentActivity.on_end_of_turn = on_end_of_turn


async def run(script: turnscript.TurnScript, variant: str) -> dict[str, Any]:
    probe = turnscript.TurnProbe()
    hook_decisions(probe)
    preemptive = variant == "default"
    session: AgentSession = AgentSession(
        vad=EnergyVAD(script),
        stt=InstantSTT(script),
        llm=InstantLLM(script),
        tts=InstantTTS(script),
        turn_handling=TurnHandlingOptions(
            turn_detection="vad", preemptive_generation={"enabled": preemptive}
        ),
    )
    source = BenchAudioInput()
    session.input.audio = source
    # As RoomIO sets it up by default: transcripts synchronized with the audio played.
    synchronizer = TranscriptSynchronizer(
        next_in_chain_audio=BenchAudioOutput(probe, script.tts_rate),
        next_in_chain_text=DiscardText(),
    )
    session.output.audio = synchronizer.audio_output
    session.output.transcription = synchronizer.text_output
    await session.start(Agent(instructions=script.instructions))

    async def push(samples: np.ndarray) -> None:
        source.push(
            rtc.AudioFrame(
                data=samples.tobytes(),
                sample_rate=script.in_rate,
                num_channels=1,
                samples_per_channel=samples.size,
            )
        )

    try:
        records = await turnscript.drive_turns(script, probe, push)
    finally:
        await session.aclose()
        await synchronizer.aclose()
    return {
        "framework": "livekit",
        "version": version("livekit-agents"),
        "variant": variant,
        "settings": "AgentSession defaults, turn_detection='vad', preemptive generation "
        + ("on (default)" if preemptive else "off"),
        "records": records,
    }


def main() -> None:
    request = json.loads(sys.stdin.read())
    script = turnscript.TurnScript(**request["script"])
    result = asyncio.run(run(script, request.get("variant", "default")))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
