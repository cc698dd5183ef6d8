"""The user side of a session: VAD over inbound audio, turn detection, and transcription.

Transcription starts speculatively as soon as the user pauses, so Whisper's fixed cost is
hidden inside the end-of-turn silence instead of added after it. Interim captions come from
re-transcribing the growing utterance when the recognizer is otherwise idle.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Coroutine
from typing import Any, Literal, Protocol

import numpy as np

from voxroom.agent.timing import TurnTimings, now
from voxroom.agent.turns import TurnDetector, TurnEvent
from voxroom.audit.events import STTPurpose
from voxroom.config import TurnConfig
from voxroom.media.audio import BlockSlicer
from voxroom.providers.base import STT, VAD, ProviderError, Transcript

log = logging.getLogger(__name__)

PREROLL_BLOCKS = 10  # ~320 ms kept before speech onset so the first syllable isn't clipped
Mode = Literal["hands_free", "push_to_talk"]


class ListenerEvents(Protocol):
    def new_turn_id(self) -> int: ...
    def on_speech_start(self, turn_id: int) -> None: ...
    def on_interim(self, turn_id: int, text: str) -> None: ...
    def on_transcribed(
        self, turn_id: int, transcript: Transcript, duration_s: float, purpose: STTPurpose
    ) -> None: ...
    def on_user_turn(self, text: str, timings: TurnTimings) -> Awaitable[None]: ...
    def on_error(self, message: str) -> None: ...


class SpeechListener:
    def __init__(self, vad: VAD, stt: STT, config: TurnConfig, events: ListenerEvents) -> None:
        self._vad = vad.create_stream()
        self._block_size = vad.block_size
        self._sample_rate = vad.sample_rate
        self._block_ms = 1000.0 * vad.block_size / vad.sample_rate
        self._stt = stt
        self._config = config
        self._events = events
        self._detector = TurnDetector(config, self._block_ms)
        self._preroll: deque[np.ndarray] = deque(maxlen=PREROLL_BLOCKS)
        self._utterance: list[np.ndarray] = []
        self._turn_id = 0
        self._speculative: asyncio.Task[Transcript] | None = None
        self._interim_at_blocks = 0
        self._open_turn: int | None = None  # the turn still accepting interim captions
        self._speech_start = 0.0
        self._tasks: set[asyncio.Task[None]] = set()
        self.mode: Mode = "hands_free"
        self._ptt_pressed = False

    # --- main loop -------------------------------------------------------------------------
    async def run(self, audio: AsyncIterator[np.ndarray]) -> None:
        slicer = BlockSlicer(self._block_size)
        try:
            async for chunk in audio:
                for block in slicer.push(chunk):
                    await self._on_block(block)
        finally:
            await self.close()

    async def _on_block(self, block: np.ndarray) -> None:
        if self.mode == "push_to_talk":
            if self._ptt_pressed:
                self._utterance.append(block)
            return
        probability = await self._vad.probability(block)
        if self._detector.in_turn:
            self._utterance.append(block)
        else:
            self._preroll.append(block)
        event = self._detector.update(probability)
        if event is TurnEvent.SPEECH_START:
            self._begin_turn()
        elif event is TurnEvent.PAUSE:
            self._speculative = asyncio.ensure_future(
                self._transcribe(self._turn_id, self._audio(), "speculative")
            )
        elif event is TurnEvent.RESUME:
            self._drop_speculative()
        elif event is TurnEvent.END_OF_TURN:
            self._finish_turn(eot_wait_s=self._detector.silence_ms / 1000.0)
        elif self._detector.in_turn:
            self._maybe_interim()

    def _begin_turn(self) -> None:
        self._turn_id = self._events.new_turn_id()
        self._utterance = list(self._preroll)
        self._preroll.clear()
        self._interim_at_blocks = len(self._utterance)
        self._open_turn = self._turn_id
        self._speech_start = now() - self._detector.speech_ms / 1000.0
        self._events.on_speech_start(self._turn_id)

    def _audio(self) -> np.ndarray:
        audio = np.concatenate(self._utterance) if self._utterance else np.zeros(0, np.int16)
        return audio[-int(self._config.max_utterance_s * self._sample_rate) :]

    # --- transcription -----------------------------------------------------------------------
    async def _transcribe(self, turn_id: int, audio: np.ndarray, purpose: STTPurpose) -> Transcript:
        started = now()
        transcript = await self._stt.transcribe(audio)
        self._events.on_transcribed(turn_id, transcript, now() - started, purpose)
        return transcript

    def _drop_speculative(self) -> None:
        if self._speculative is not None:
            self._speculative.cancel()
            self._speculative = None

    def _maybe_interim(self) -> None:
        """Interim captions are optional work: only when the recognizer is idle, so a final
        transcription (the user may stop any moment) never waits behind one."""
        interval_blocks = self._config.interim_interval_ms / self._block_ms
        if self._config.interim_interval_ms <= 0 or not self._stt.idle:
            return
        if len(self._utterance) - self._interim_at_blocks < interval_blocks:
            return
        self._interim_at_blocks = len(self._utterance)
        self._spawn(self._send_interim(self._turn_id, self._audio()))

    async def _send_interim(self, turn_id: int, audio: np.ndarray) -> None:
        try:
            transcript = await self._transcribe(turn_id, audio, "interim")
        except ProviderError as exc:
            log.warning("interim transcription failed: %s", exc)
            return
        if turn_id == self._open_turn and transcript.text:
            self._events.on_interim(turn_id, transcript.text)

    def _finish_turn(self, eot_wait_s: float) -> None:
        decided = now()
        timings = TurnTimings(
            turn_id=self._turn_id,
            speech_start=self._speech_start,
            speech_end=decided - eot_wait_s,
            end_of_turn=decided,
        )
        speculative, self._speculative = self._speculative, None
        audio = self._audio()
        self._utterance = []
        self._open_turn = None
        self._spawn(self._finalize(audio, speculative, timings))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _finalize(
        self, audio: np.ndarray, speculative: asyncio.Task[Transcript] | None, timings: TurnTimings
    ) -> None:
        try:
            if speculative is not None:
                transcript = await speculative
                timings.speculative_stt = True
            else:
                transcript = await self._transcribe(timings.turn_id, audio, "final")
        except ProviderError as exc:
            self._events.on_error(f"speech recognition failed: {exc}")
            return
        timings.transcript_ready = now()
        await self._events.on_user_turn(transcript.text, timings)

    # --- push-to-talk ----------------------------------------------------------------------
    def set_mode(self, mode: Mode) -> None:
        self.mode = mode
        self._ptt_pressed = False
        self._detector.reset()
        self._utterance = []
        self._drop_speculative()

    def press(self) -> None:
        if self.mode != "push_to_talk" or self._ptt_pressed:
            return
        self._ptt_pressed = True
        self._turn_id = self._events.new_turn_id()
        self._utterance = []
        self._open_turn = self._turn_id
        self._speech_start = now()
        self._events.on_speech_start(self._turn_id)

    def release(self) -> None:
        if self.mode != "push_to_talk" or not self._ptt_pressed:
            return
        self._ptt_pressed = False
        self._finish_turn(eot_wait_s=0.0)

    async def close(self) -> None:
        self._drop_speculative()
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
