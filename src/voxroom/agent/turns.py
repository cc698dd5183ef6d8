"""Turn detection from VAD probabilities: pure logic over 32 ms blocks, no I/O, no clocks.

Events:
- ONSET        — voice for `onset_ms`: enough to pause an agent that is speaking (cheap to undo)
- ONSET_LOST   — the voice stopped before `min_speech_ms`: a click or a cough, not a turn
- SPEECH_START — speech lasted `min_speech_ms`: a user turn begins
- PAUSE        — silence reached `speculative_stt_after_ms`: transcribe speculatively now
- RESUME       — speech came back after a PAUSE: the speculative transcript is stale
- END_OF_TURN  — silence reached `end_of_turn_silence_ms`: the turn ends (provisionally: the
                 engine may still merge speech that follows before the reply plays)
"""

from __future__ import annotations

from enum import Enum

from voxroom.config import TurnConfig

HYSTERESIS = 0.15  # leave speech only below threshold - HYSTERESIS, so flutter isn't a pause


class TurnEvent(Enum):
    ONSET = "onset"
    ONSET_LOST = "onset_lost"
    SPEECH_START = "speech_start"
    PAUSE = "pause"
    RESUME = "resume"
    END_OF_TURN = "end_of_turn"


class TurnDetector:
    def __init__(self, config: TurnConfig, block_ms: float) -> None:
        self._config = config
        self._block_ms = block_ms
        self.in_turn = False
        self.speech_ms = 0.0  # voiced time in the current turn (or the onset run before it)
        self.silence_ms = 0.0  # trailing silence
        self._voiced = False
        self._paused = False
        self._onset = False

    def reset(self) -> None:
        self.in_turn = False
        self.speech_ms = 0.0
        self.silence_ms = 0.0
        self._voiced = False
        self._paused = False
        self._onset = False

    @property
    def voiced(self) -> bool:
        """The last block was voice."""
        return self._voiced

    def update(self, probability: float) -> TurnEvent | None:
        threshold = self._config.vad_threshold
        self._voiced = probability >= (threshold - HYSTERESIS if self._voiced else threshold)
        if not self.in_turn:
            return self._idle(self._voiced)
        return self._in_turn(self._voiced)

    def _idle(self, voiced: bool) -> TurnEvent | None:
        if not voiced:
            self.speech_ms = 0.0
            if self._onset:
                self._onset = False
                return TurnEvent.ONSET_LOST
            return None
        self.speech_ms += self._block_ms
        if self.speech_ms >= self._config.min_speech_ms:
            self.in_turn = True
            self._onset = False
            self.silence_ms = 0.0
            return TurnEvent.SPEECH_START
        if not self._onset and self.speech_ms >= self._config.onset_ms:
            self._onset = True
            return TurnEvent.ONSET
        return None

    def _in_turn(self, voiced: bool) -> TurnEvent | None:
        if voiced:
            self.speech_ms += self._block_ms
            self.silence_ms = 0.0
            if self._paused:
                self._paused = False
                return TurnEvent.RESUME
            return None
        self.silence_ms += self._block_ms
        if self.silence_ms >= self._config.end_of_turn_silence_ms:
            self.in_turn = False
            self._paused = False
            self.speech_ms = 0.0
            return TurnEvent.END_OF_TURN
        if not self._paused and self.silence_ms >= self._config.speculative_stt_after_ms:
            self._paused = True
            return TurnEvent.PAUSE
        return None
