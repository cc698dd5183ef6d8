"""The people in a session, each with a listener of their own (VAD, endpointing, STT).

A listener reports to the session through `SpeakerEvents`, which adds who is speaking to the
few events that need it: the turns a listener starts are its speaker's, and a voice over the
agent is tracked per speaker (the agent resumes only when every voice that paused it is gone).
Everything else a listener reports is about a turn, and the session knows whose turn it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol

from voxroom.agent.listener import HeardSpeech, SpeechListener
from voxroom.agent.timing import TurnTimings
from voxroom.audit.events import STTPurpose
from voxroom.providers.base import Transcript
from voxroom.transport.base import ParticipantInfo, RemoteParticipant


class SessionForSpeakers(Protocol):
    """What of the session a participant's listener reaches."""

    def new_turn_id(self, speaker: ParticipantInfo | None = None) -> int: ...
    def on_voice_onset(self, speaker: str) -> None: ...
    def on_voice_lost(self, speaker: str) -> None: ...
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
    def on_error(self, message: str, component: str = "session") -> None: ...


class SpeakerEvents:
    """`ListenerEvents` for one participant's listener."""

    def __init__(self, session: SessionForSpeakers, speaker: ParticipantInfo) -> None:
        self._session = session
        self._speaker = speaker

    def new_turn_id(self) -> int:
        return self._session.new_turn_id(self._speaker)

    def on_voice_onset(self) -> None:
        self._session.on_voice_onset(self._speaker.identity)

    def on_voice_lost(self) -> None:
        self._session.on_voice_lost(self._speaker.identity)

    def on_speech_start(self, turn_id: int) -> None:
        self._session.on_speech_start(turn_id)

    def on_long_speech(self, turn_id: int) -> None:
        self._session.on_long_speech(turn_id)

    def on_interim(self, turn_id: int, text: str) -> None:
        self._session.on_interim(turn_id, text)

    def on_transcribed(
        self, turn_id: int, transcript: Transcript, duration_s: float, purpose: STTPurpose
    ) -> None:
        self._session.on_transcribed(turn_id, transcript, duration_s, purpose)

    def on_user_turn(
        self, text: str, timings: TurnTimings, heard: HeardSpeech | None = None
    ) -> Awaitable[None]:
        return self._session.on_user_turn(text, timings, heard)

    def on_turn_confirmed(self, turn_id: int) -> None:
        self._session.on_turn_confirmed(turn_id)

    def reply_heard(self, turn_id: int) -> bool:
        return self._session.reply_heard(turn_id)

    def on_turn_merged(self, turn_id: int) -> None:
        self._session.on_turn_merged(turn_id)

    def on_error(self, message: str) -> None:
        self._session.on_error(f"{self._speaker.display_name}: {message}", component="stt")


@dataclass(slots=True)
class Speaker:
    """A participant in the session: who, their media, their listener and its task."""

    remote: RemoteParticipant
    listener: SpeechListener
    task: asyncio.Task[None] | None = None

    @property
    def info(self) -> ParticipantInfo:
        return self.remote.info
