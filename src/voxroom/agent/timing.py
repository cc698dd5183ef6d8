"""Per-turn stage timestamps (monotonic seconds) and the latency breakdown built from them."""

from __future__ import annotations

import time
from dataclasses import dataclass

from voxroom.audit.events import TurnMetricsRecorded


def now() -> float:
    return time.monotonic()


def _ms(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start) * 1000.0, 1)


@dataclass(slots=True)
class TurnTimings:
    turn_id: int
    speech_start: float | None = None  # first voiced audio of the user (None for typed turns)
    speech_end: float | None = None  # last voiced audio of the user (None for typed turns)
    end_of_turn: float | None = None  # VAD silence ended the turn (provisionally)
    transcript_ready: float | None = None
    confirmed: float | None = None  # the turn was certain enough to play the reply
    llm_request: float | None = None
    llm_first_token: float | None = None
    first_sentence: float | None = None
    tts_first_chunk: float | None = None
    first_audio_sent: float | None = None
    speculative_stt: bool = False
    explicit: bool = False  # the user ended it (push-to-talk release), not a silence

    def metrics(self) -> TurnMetricsRecorded:
        start = self.speech_end if self.speech_end is not None else self.end_of_turn
        return TurnMetricsRecorded(
            turn_id=self.turn_id,
            eot_wait_ms=_ms(self.speech_end, self.end_of_turn),
            confirm_ms=_ms(self.speech_end, self.confirmed),
            stt_ms=_ms(self.end_of_turn, self.transcript_ready),
            llm_first_token_ms=_ms(self.llm_request, self.llm_first_token),
            first_sentence_ms=_ms(self.end_of_turn, self.first_sentence),
            tts_first_chunk_ms=_ms(self.first_sentence, self.tts_first_chunk),
            total_ms=_ms(start, self.first_audio_sent),
            speculative_stt=self.speculative_stt,
        )
