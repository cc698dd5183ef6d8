"""The user side of a session: VAD over inbound audio, turn-taking, and transcription.

- Transcription starts speculatively as soon as the user pauses, so Whisper's fixed cost is
  hidden inside the end-of-turn silence instead of added after it.
- The end of a turn is provisional: its transcript starts the reply at once, but playout waits
  for confirmation — immediately if the words sound finished, after a longer silence if they
  trail off ("… and"). Speech that resumes before any of the reply is heard continues the
  same turn (the reply is discarded), so a mid-sentence pause never gets an answer, even
  when the words before it sounded finished ("Wait, … stop, I have a question").
- Interim captions come from re-transcribing the growing utterance when the recognizer is idle.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from voxroom.agent.endpointing import SemanticEndpointing
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
    def on_voice_onset(self) -> None: ...
    def on_voice_lost(self) -> None: ...
    def on_speech_start(self, turn_id: int) -> None: ...
    def on_long_speech(self, turn_id: int) -> None: ...
    def on_interim(self, turn_id: int, text: str) -> None: ...
    def on_transcribed(
        self, turn_id: int, transcript: Transcript, duration_s: float, purpose: STTPurpose
    ) -> None: ...
    def on_user_turn(
        self, text: str, timings: TurnTimings, heard: HeardSpeech | None = None
    ) -> Awaitable[None]: ...
    def on_turn_confirmed(self, turn_id: int) -> None: ...
    def reply_heard(self, turn_id: int) -> bool: ...
    def on_turn_merged(self, turn_id: int) -> None: ...
    def on_error(self, message: str) -> None: ...


@dataclass(frozen=True, slots=True)
class HeardSpeech:
    """What a voice turn's transcript came from: its audio (mono int16 at the VAD's rate),
    the language the recognizer heard, how sure it was of the words, and the words in
    English (when the listener was asked for them)."""

    audio: np.ndarray
    language: str | None = None
    avg_logprob: float | None = None
    english: str | None = None


@dataclass(slots=True)
class EndedTurn:
    """A turn that ended provisionally: it may still continue until its reply plays."""

    turn_id: int
    audio: np.ndarray
    timings: TurnTimings
    explicit: bool = False  # ended by the user (push-to-talk release): no semantic hold
    complete: bool | None = None  # None until the transcript is known
    confirmed: bool = False


class SpeechListener:
    def __init__(
        self,
        vad: VAD,
        stt: STT,
        config: TurnConfig,
        events: ListenerEvents,
        hints: Sequence[str] = (),
        language: str | None = None,
        english: bool = False,
    ) -> None:
        self._vad = vad.create_stream()
        self._block_size = vad.block_size
        self._sample_rate = vad.sample_rate
        self._block_ms = 1000.0 * vad.block_size / vad.sample_rate
        self._stt = stt
        self._hints = tuple(hints)  # words the recognizer should expect (the agent's name)
        # What the speaker speaks (None: the recognizer's configured default); may change
        # between turns (a participant chose another language).
        self.language = language
        # Also translate final transcripts into English, in the same recognizer pass.
        self.english = english
        self._config = config
        self._events = events
        self.endpointing = SemanticEndpointing(
            enabled=config.semantic_endpointing, names=self._hints
        )
        self._detector = TurnDetector(config, self._block_ms)
        self._preroll: deque[np.ndarray] = deque(maxlen=PREROLL_BLOCKS)
        self._utterance: list[np.ndarray] = []
        self._turn_id = 0
        self._speculative: asyncio.Task[Transcript] | None = None
        self._finalizing: asyncio.Task[None] | None = None
        self._ended: EndedTurn | None = None
        self._long_speech_sent = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._interim_at_blocks = 0
        self._open_turn: int | None = None  # the turn still accepting interim captions
        self._speech_start = 0.0
        self.mode: Mode = "hands_free"
        self._ptt_pressed = False

    @property
    def hearing_voice(self) -> bool:
        """The user is speaking now: voice in the last block, a turn in progress, or the
        push-to-talk button held."""
        return self._detector.voiced or self._detector.in_turn or self._ptt_pressed

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
        if self._ptt_pressed:  # the user says when the turn ends: no VAD
            self._utterance.append(block)
            return
        if self.mode == "push_to_talk":
            return
        probability = await self._vad.probability(block)
        (self._utterance if self._detector.in_turn else self._preroll).append(block)
        event = self._detector.update(probability)
        if event is TurnEvent.ONSET:
            self._events.on_voice_onset()
        elif event is TurnEvent.ONSET_LOST:
            self._events.on_voice_lost()
        elif event is TurnEvent.SPEECH_START:
            self._begin_turn()
        elif event is TurnEvent.PAUSE:
            self._speculative = asyncio.ensure_future(
                self._transcribe(self._turn_id, self._audio(), "speculative")
            )
        elif event is TurnEvent.RESUME:
            self._drop_speculative()
        elif event is TurnEvent.END_OF_TURN:
            self._end_turn(eot_wait_s=self._detector.silence_ms / 1000.0)
        elif self._detector.in_turn:
            self._during_speech()
        self._maybe_confirm()

    def _begin_turn(self) -> None:
        ended = self._ended
        if ended is not None and not self._events.reply_heard(ended.turn_id):
            # The user went on before hearing the reply: one turn, the reply discarded.
            self._cancel_finalizing()
            self._events.on_turn_merged(ended.turn_id)
            self._turn_id = ended.turn_id
            self._utterance = [ended.audio, *self._preroll]
            self._speech_start = ended.timings.speech_start or now()
        else:
            self._turn_id = self._events.new_turn_id()
            self._utterance = list(self._preroll)
            self._speech_start = now() - self._detector.speech_ms / 1000.0
            self._interim_at_blocks = len(self._utterance)
        self._ended = None
        self._preroll.clear()
        self._open_turn = self._turn_id
        self._long_speech_sent = False
        self._events.on_speech_start(self._turn_id)

    def _during_speech(self) -> None:
        if not self._long_speech_sent and (
            self._detector.speech_ms >= self._config.interruption_speech_ms
        ):
            self._long_speech_sent = True
            self._events.on_long_speech(self._turn_id)
        self._maybe_interim()

    def _audio(self) -> np.ndarray:
        audio = np.concatenate(self._utterance) if self._utterance else np.zeros(0, np.int16)
        return audio[-int(self._config.max_utterance_s * self._sample_rate) :]

    # --- transcription -----------------------------------------------------------------------
    async def _transcribe(self, turn_id: int, audio: np.ndarray, purpose: STTPurpose) -> Transcript:
        started = now()
        english = self.english and purpose != "interim"  # interims are optional work
        transcript = await self._stt.transcribe(audio, self._hints, self.language, english=english)
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
        if self._detector.speech_ms < self._config.interim_after_ms:
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

    # --- end of turn -------------------------------------------------------------------------
    def _end_turn(self, eot_wait_s: float, explicit: bool = False) -> None:
        decided = now()
        timings = TurnTimings(
            turn_id=self._turn_id,
            speech_start=self._speech_start,
            speech_end=decided - eot_wait_s,
            end_of_turn=decided,
            explicit=explicit,
        )
        speculative, self._speculative = self._speculative, None
        ended = EndedTurn(self._turn_id, self._audio(), timings, explicit=explicit)
        self._utterance = []
        self._open_turn = None
        self._ended = ended
        self._finalizing = asyncio.ensure_future(self._finalize(ended, speculative))

    async def _finalize(
        self, ended: EndedTurn, speculative: asyncio.Task[Transcript] | None
    ) -> None:
        timings = ended.timings
        try:
            if speculative is not None:
                transcript = await speculative
                timings.speculative_stt = True
            else:
                transcript = await self._transcribe(ended.turn_id, ended.audio, "final")
        except ProviderError as exc:
            self._events.on_error(f"speech recognition failed: {exc}")
            return
        timings.transcript_ready = now()
        ended.complete = ended.explicit or self.endpointing.looks_complete(transcript.text)
        heard = HeardSpeech(
            ended.audio, transcript.language, transcript.avg_logprob, transcript.english
        )
        await self._events.on_user_turn(transcript.text, timings, heard)
        self._maybe_confirm()

    def _maybe_confirm(self) -> None:
        """Release the held reply once the turn is certain enough."""
        ended = self._ended
        if ended is None or ended.confirmed or ended.complete is None:
            return
        silence_s = now() - (ended.timings.speech_end or now())
        # An unfinished-sounding turn waits out the longer silence, and never while the user's
        # voice is back (words that will merge into it once they are long enough to count).
        waited = silence_s * 1000 >= self._config.incomplete_turn_silence_ms
        if ended.complete or (waited and not self._detector.voiced):
            ended.confirmed = True
            ended.timings.confirmed = now()
            self._events.on_turn_confirmed(ended.turn_id)

    def _cancel_finalizing(self) -> None:
        if self._finalizing is not None and not self._finalizing.done():
            self._finalizing.cancel()
        self._finalizing = None

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- push-to-talk ----------------------------------------------------------------------
    def set_mode(self, mode: Mode) -> None:
        self.mode = mode
        self._ptt_pressed = False
        self._detector.reset()
        self._utterance = []
        self._drop_speculative()

    def press(self) -> None:
        """Start an explicit turn (in either mode): audio is the turn's until `release`."""
        if self._ptt_pressed:
            return
        self._ptt_pressed = True
        self._detector.reset()  # a hands-free turn in progress gives way to the explicit one
        self._drop_speculative()
        self._ended = None  # a press always starts a new turn: the user is explicit
        self._turn_id = self._events.new_turn_id()
        self._utterance = []
        self._open_turn = self._turn_id
        self._speech_start = now()
        self._events.on_speech_start(self._turn_id)
        self._events.on_long_speech(self._turn_id)  # pressing means "stop talking", at once

    def release(self) -> None:
        if not self._ptt_pressed:
            return
        self._ptt_pressed = False
        self._end_turn(eot_wait_s=0.0, explicit=True)

    async def close(self) -> None:
        self._drop_speculative()
        self._cancel_finalizing()
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
