"""The agent's one voice in a call: the reply being prepared or played, and what voices do to it.

- A reply prepared before its turn is certain is held (`Reply.released`) until the listener
  confirms the turn, and dropped unheard if the speaker goes on (`merged`).
- Anyone's voice over a released reply pauses the sink at once (`onset`); it resumes once
  every voice that paused it turned out to be no turn, a backchannel or gone (`voice_lost`),
  and stops for good on real words or long speech (`interrupt`). The sink is paused only on
  behalf of the live reply: one that ends unpauses it (issue 13).
- A guard reports a reply whose audio is queued but plays nothing while nobody speaks, and
  plays it: never a mute agent.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from voxroom.agent import protocol as msg
from voxroom.agent.context import UserTurn
from voxroom.agent.reply import Reply, single_text
from voxroom.agent.timing import TurnTimings, now
from voxroom.audit import events as ev
from voxroom.config import TurnConfig
from voxroom.providers.base import TTS
from voxroom.transport.base import AudioSink

APOLOGY = "Sorry, I can't answer right now. Please try again in a moment."
# (reply, the turn it answers or None, interrupted): a reply ended that was not discarded
Finished = Callable[[Reply, UserTurn | None, bool], None]


class AgentVoice:
    def __init__(
        self,
        sink: AudioSink,
        tts: TTS,
        turns: TurnConfig,
        *,
        emit: Callable[[ev.Event], None],
        set_state: Callable[[msg.AgentState], None],
        hearing_voice: Callable[[], bool],
        finished: Finished,
        failed: Callable[[str], None],
    ) -> None:
        self._sink = sink
        self._tts = tts
        self._turns = turns
        self._emit = emit
        self._set_state = set_state
        self._hearing_voice = hearing_voice
        self._finished = finished
        self._failed = failed  # a provider failed: tell the session (an error, listening)
        self.reply: Reply | None = None
        self._task: asyncio.Task[None] | None = None
        self._generation = 0
        self._confirmed: set[int] = set()
        # The turn whose reply waits for the previous one to wind down (not yet `reply`).
        self._starting: int | None = None
        self._paused: Reply | None = None  # a reply paused by voices, maybe resumed
        self._pausers: set[str] = set()  # the participants whose voice paused it
        self._background: set[asyncio.Task[None]] = set()

    @property
    def paused(self) -> bool:
        return self._paused is not None

    @property
    def busy(self) -> bool:
        """A reply is being prepared, played, or wound down."""
        return self._task is not None and not self._task.done()

    # --- what the listeners hear ---------------------------------------------------------
    def onset(self, speaker: str) -> None:
        """`speaker`'s voice over a released reply: silence it now; words decide for good."""
        reply = self.reply
        if reply is None or reply.discarded or not reply.released.is_set():
            return
        if self._paused is None:
            self._sink.pause()
            self._paused = reply
        self._pausers.add(speaker)

    def voice_lost(self, speaker: str) -> None:
        """`speaker`'s voice was no turn, a backchannel, or they left: the reply goes on once
        no voice holds it."""
        self._pausers.discard(speaker)
        if self._pausers or self._paused is None:
            return
        if self._paused is self.reply and self._turns.resume_after_false_interruption:
            self._sink.resume()
            self._paused = None
        else:
            self.interrupt()

    def confirmed(self, turn_id: int) -> None:
        """The turn is certain: its held reply may play."""
        self._confirmed.add(turn_id)
        if self.reply is not None and self.reply.turn_id == turn_id:
            self.reply.release()

    def heard(self, turn_id: int) -> bool:
        """Has any of the reply to `turn_id` been heard (else the speaker's next words still
        belong to that turn)?"""
        reply = self.reply
        if self._starting == turn_id:
            return False  # its reply waits for the previous one to stop: nothing played yet
        if reply is not None and reply.turn_id == turn_id and not reply.spoken:
            return False  # ready or in the making, but not a sound of it played yet
        return turn_id in self._confirmed

    def merged(self, turn_id: int) -> None:
        """The speaker went on: the reply held for `turn_id` was never heard and is dropped;
        the merged turn plays its own reply once it is certain again."""
        self._confirmed.discard(turn_id)
        if self._starting == turn_id:
            self._generation += 1  # the reply still waiting to start never starts
            self._starting = None
        if self.reply is not None and self.reply.turn_id == turn_id:
            self.reply.discarded = True
            self.interrupt()

    def interrupt(self) -> None:
        self._sink.clear()  # first: silence on the very next 20 ms frame
        self._paused = None
        self._pausers.clear()
        if self._task is not None:
            self._task.cancel()

    # --- replies ---------------------------------------------------------------------------
    async def say(
        self, text: AsyncIterator[str], timings: TurnTimings, answers: UserTurn | None
    ) -> None:
        """Start a reply (after stopping the current one); it plays once released."""
        await self._start(text, timings, answers)

    async def _start(
        self,
        text: AsyncIterator[str],
        timings: TurnTimings,
        answers: UserTurn | None,
        apology: bool = False,
    ) -> None:
        self._generation += 1
        generation = self._generation
        turn_id = timings.turn_id
        self._starting = turn_id
        await self.cancel()
        if generation != self._generation:
            return  # a newer turn arrived (or this one merged) while the old reply wound down
        self._starting = None
        self._set_state("thinking")
        reply = Reply(
            text=text,
            tts=self._tts,
            sink=self._sink,
            timings=timings,
            on_sentence_played=lambda _: self._sentence_played(reply),
            on_synthesized=functools.partial(self._record_tts, turn_id),
        )
        if timings.speech_end is None or turn_id in self._confirmed:
            reply.release()  # typed turns, say(), or a spoken turn already certain: play now
        self.reply = reply
        self._task = asyncio.create_task(self._run(reply, answers, apology))

    async def cancel(self) -> None:
        """Stop the current reply and wait until it has wound down."""
        task = self._task
        if task is not None and not task.done():
            self._sink.clear()
            task.cancel()
            # asyncio.wait, not `await task`: a cancellation aimed at *us* must propagate.
            await asyncio.wait({task})
        if self._task is task:
            self._task = None

    async def close(self) -> None:
        for task in self._background:
            task.cancel()
        await self.cancel()

    def _record_tts(
        self, turn_id: int, provider: str, sentence: str, audio_s: float, took_s: float
    ) -> None:
        self._emit(
            ev.TTSUsage(
                turn_id=turn_id,
                provider=provider,
                characters=len(sentence),
                audio_seconds=round(audio_s, 3),
                duration_ms=round(took_s * 1e3, 1),
            )
        )

    async def _run(self, reply: Reply, answers: UserTurn | None, apology: bool) -> None:
        interrupted = failed = False
        guard = asyncio.create_task(self._guard(reply))
        try:
            await reply.run()
        except asyncio.CancelledError:
            interrupted = True
            raise
        except Exception as exc:  # a provider failed (ExceptionGroup from the reply's tasks)
            self._failed(f"reply failed: {_root_cause(exc)}")
            interrupted = failed = True
        finally:
            guard.cancel()
            self._finish(reply, answers, interrupted)
        if failed and apology:  # even the voice is down: say it in captions at least
            self._emit(
                ev.AgentSpeech(
                    turn_id=reply.timings.turn_id,
                    played_text=APOLOGY,
                    final=True,
                    planned_text=APOLOGY,
                    interrupted=False,
                )
            )
        elif failed and not reply.spoken:  # every provider failed: tell the user, by voice
            timings = TurnTimings(reply.timings.turn_id, end_of_turn=now())
            self._spawn(self._start(single_text(APOLOGY), timings, None, apology=True))

    async def _guard(self, reply: Reply) -> None:
        """A reply with audio in the sink must be heard. If none of it plays for
        `reply_stall_ms` while nobody speaks, whatever kept it silent is a bug: report it
        (an error event: audit trail, client, /metrics) and play the reply."""
        stall_s = self._turns.reply_stall_ms / 1000
        await reply.queued.wait()
        while True:
            await asyncio.sleep(stall_s)
            if reply.spoken or reply is not self.reply:
                return
            if self._hearing_voice():
                continue  # a pause a voice explains: the turn logic decides
            self._emit(
                ev.ErrorOccurred(
                    component="playout",
                    message=(
                        f"the reply to turn {reply.turn_id} was ready for {stall_s:g} s but "
                        "played nothing: playout resumed"
                    ),
                )
            )
            self._paused = None
            self._pausers.clear()
            self._sink.resume()

    def _sentence_played(self, reply: Reply) -> None:
        if reply is not self.reply:
            return
        turn_id = reply.timings.turn_id
        if len(reply.spoken) == 1:
            self._set_state("speaking")
            self._emit(reply.timings.metrics())
        self._emit(ev.AgentSpeech(turn_id=turn_id, played_text=reply.started_text, final=False))

    def _finish(self, reply: Reply, answers: UserTurn | None, interrupted: bool) -> None:
        if reply is self._paused:
            # The sink is paused only on behalf of a live reply: one that ends (a voice onset
            # can pause a reply that is still winding down from a cancel) must not leave the
            # next reply playing into a paused sink (issue 13).
            self._paused = None
            self._pausers.clear()
            self._sink.clear()
        if reply.discarded:  # prepared ahead and never played: no trace in context or captions
            if reply is self.reply:
                self.reply = None
                self._set_state("listening")
            return
        self._finished(reply, answers, interrupted)
        self._emit(
            ev.AgentSpeech(
                turn_id=reply.timings.turn_id,
                played_text=reply.heard_text,
                final=True,
                planned_text=" ".join(reply.generated),
                interrupted=interrupted,
            )
        )
        if reply is self.reply:
            self.reply = None
            self._set_state("listening")

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _root_cause(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
