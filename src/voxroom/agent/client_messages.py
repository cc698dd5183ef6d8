"""The session's side of its clients' data channel: messages from the people in the call
(chat, interrupt, mode, push-to-talk, an app's own types) in, and the events of the session's
log that clients see (captions, state, app messages) out, each to its audience.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Coroutine
from typing import Any, Protocol

from pydantic import ValidationError

from voxroom.agent import protocol as msg
from voxroom.agent.agent import Agent
from voxroom.agent.listener import HeardSpeech
from voxroom.agent.participants import Speaker
from voxroom.agent.timing import TurnTimings, now
from voxroom.agent.voice import AgentVoice
from voxroom.audit import events as ev
from voxroom.audit.log import SessionEventLog
from voxroom.transport.base import ParticipantInfo, Transport

log = logging.getLogger(__name__)


class SessionForClients(Protocol):
    """What of the session its clients' messages reach."""

    id: str
    agent: Agent
    transport: Transport
    log: SessionEventLog
    voice: AgentVoice
    speakers: dict[str, Speaker]

    def new_turn_id(self, speaker: ParticipantInfo | None = None) -> int: ...
    def on_user_turn(
        self,
        text: str,
        timings: TurnTimings,
        heard: HeardSpeech | None = None,
        source: ev.TurnSource = "voice",
    ) -> Coroutine[Any, Any, None]: ...


class ClientMessages:
    """One session's client messages, in and out."""

    def __init__(
        self, session: SessionForClients, spawn: Callable[[Coroutine[Any, Any, None]], None]
    ) -> None:
        self._session = session
        self._spawn = spawn  # the session's background tasks: cancelled when it ends

    def received(self, sender: str, raw: dict[str, Any]) -> None:
        """A message from `sender`'s client (the transport's `on_message`)."""
        session = self._session
        kind = raw.get("type")
        if isinstance(kind, str) and kind not in msg.CLIENT_TYPES:  # an app's own ("ask")
            self._spawn(self._app_message(sender, raw))
            return
        try:
            message = msg.client_message_adapter.validate_python(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            session.log.emit(
                ev.ErrorOccurred(component="protocol", message=f"invalid message: {first['msg']}")
            )
            return
        speaker = session.speakers.get(sender)
        if isinstance(message, msg.ChatIn):
            turn_id = session.new_turn_id(speaker.info if speaker else None)
            timings = TurnTimings(turn_id, end_of_turn=now(), transcript_ready=now())
            self._spawn(session.on_user_turn(message.text, timings, source="chat"))
        elif isinstance(message, msg.InterruptIn):
            session.voice.interrupt()
        elif speaker is None:
            return  # push-to-talk or mode from someone not (or no longer) in the call
        elif isinstance(message, msg.ModeIn):
            speaker.listener.set_mode(message.mode)
        elif isinstance(message, msg.PushToTalkIn):
            listener = speaker.listener
            listener.press() if message.action == "press" else listener.release()

    async def _app_message(self, sender: str, message: dict[str, Any]) -> None:
        session = self._session
        speaker = session.speakers.get(sender)
        try:
            handled = await session.agent.on_app_message(speaker.info if speaker else None, message)
        except Exception as exc:  # an app's bug must not end the call: report it
            log.exception("session %s: on_app_message failed", session.id)
            handled, reason = True, f"the agent failed on a {message['type']!r} message: {exc}"
            session.log.emit(ev.ErrorOccurred(component="agent", message=reason))
        if not handled:
            session.log.emit(
                ev.ErrorOccurred(
                    component="protocol",
                    message=f"invalid message: unknown type {message['type']!r}",
                )
            )

    def forward(self, event: ev.Event) -> None:
        """Send `event` to the clients that see it (a subscriber of the session's log)."""
        if (message := msg.client_message(event)) is None:
            return
        if isinstance(event, ev.AppMessage):
            audience = event.audience
        elif (roles := self._session.agent.captions_to) is not None:
            audience = sorted(self.audience(roles, None))
        else:
            audience = None
        self._session.transport.send(message, to=audience)

    def audience(self, roles: Collection[str] | None, to: Collection[str] | None) -> set[str]:
        """The identities `to` and those of the people in the call with one of `roles`."""
        chosen = set(to or ())
        if roles is not None:
            chosen |= {who for who, s in self._session.speakers.items() if s.info.role in roles}
        return chosen
