"""The conversation as the LLM sees it: instructions, few-shot examples, and what was said."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voxroom.media.vision import user_content
from voxroom.providers.base import ChatMessage, ToolCall
from voxroom.transport.base import ParticipantInfo

MAX_HISTORY_MESSAGES = 16  # keeps the prompt small: short-context local models, fast prefill


@dataclass(slots=True)
class UserTurn:
    """A user turn as the agent's hooks see it; hooks may rewrite `text` or add context."""

    turn_id: int
    text: str
    source: str  # "voice" | "chat"
    context: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    # Who spoke (None: not known); in a call with several people the model sees their name.
    speaker: ParticipantInfo | None = None
    # Whether the agent will answer: the room's turn policy decided; a hook may change it.
    respond: bool = True
    # Show the model the speaker's name (group calls).
    named: bool = False
    # A voice turn's speech (mono int16, 16 kHz; None for typed turns), for hooks that work
    # on the sound itself, and the language heard in it.
    audio: np.ndarray | None = field(default=None, repr=False)
    language: str | None = None
    # The words in English, translated by the recognizer as it transcribed them (agents with
    # `english_transcripts`; None otherwise, and for typed turns).
    english: str | None = None

    @property
    def speaker_name(self) -> str | None:
        return self.speaker.display_name if self.named and self.speaker else None

    def add_image(self, part: dict[str, Any]) -> None:
        """Show the model an image with this turn (OpenAI `image_url` part, e.g. from
        `voxroom.media.vision.latest_frame_part(camera)` with the speaker's `video_in`)."""
        self.images.append(part)

    def add_context(self, text: str) -> None:
        """Knowledge for this turn only (RAG results, tool output): shown to the model, not kept."""
        if text.strip():
            self.context.append(text.strip())


@dataclass(frozen=True, slots=True)
class ToolExample:
    """A worked tool call, shown to the model as part of the few-shot preamble."""

    user: str
    tool: str
    arguments: dict[str, object]
    result: str
    answer: str

    def messages(self, index: int) -> list[ChatMessage]:
        call = ToolCall(f"example_{index}", self.tool, json.dumps(self.arguments))
        return [
            ChatMessage("user", self.user),
            ChatMessage("assistant", "", tool_calls=(call,)),
            ChatMessage("tool", self.result, tool_call_id=call.id),
            ChatMessage("assistant", self.answer),
        ]


@dataclass(slots=True)
class _Entry:
    turn_id: int | None  # the user turn a message belongs to (None: the agent's own speech)
    message: ChatMessage


class ChatContext:
    """Instructions and few-shot examples, then what was said, in order.

    A user turn enters when its transcript is final (answered or not: in a group call the
    model must know what people said to each other); a later final text for the same turn (a
    merged turn) replaces it. The agent's reply enters as what was heard, right after the
    turn it answers, when the reply ends."""

    def __init__(
        self,
        instructions: str,
        examples: list[tuple[str, str]],
        tool_examples: list[ToolExample] | None = None,
    ) -> None:
        self._preamble = [ChatMessage("system", instructions)]
        # Tool examples first: a base model imitates the most recent pattern most, and most
        # turns should be answered in words.
        for index, example in enumerate(tool_examples or []):
            self._preamble += example.messages(index)
        for question, answer in examples:
            self._preamble += [ChatMessage("user", question), ChatMessage("assistant", answer)]
        self._entries: list[_Entry] = []

    @property
    def history(self) -> list[ChatMessage]:
        return [entry.message for entry in self._entries]

    def messages_for(self, turn: UserTurn) -> list[ChatMessage]:
        """The model's input to answer `turn`: everything before it, its context, then it."""
        extra = (
            [ChatMessage("system", "Context: " + " ".join(turn.context))] if turn.context else []
        )
        earlier = [e.message for e in self._entries if e.turn_id != turn.turn_id]
        return [
            *self._preamble,
            *earlier[-MAX_HISTORY_MESSAGES:],
            *extra,
            ChatMessage("user", user_content(turn.text, *turn.images), speaker=turn.speaker_name),
        ]

    def add_user(self, turn_id: int, text: str, speaker: str | None = None) -> None:
        """A user turn's final text (replacing an earlier text of the same turn)."""
        message = ChatMessage("user", text, speaker=speaker)
        for entry in self._entries:
            if entry.turn_id == turn_id and entry.message.role == "user":
                entry.message = message
                return
        self._entries.append(_Entry(turn_id, message))

    def add_reply(self, turn_id: int | None, heard: str, interrupted: bool) -> None:
        """The agent's reply to `turn_id` (None: it spoke unprompted), as heard."""
        if not heard.strip():
            return
        entry = _Entry(turn_id, ChatMessage("assistant", heard, interrupted=interrupted))
        at = len(self._entries)
        if turn_id is not None:
            at = next(
                (i + 1 for i in reversed(range(at)) if self._entries[i].turn_id == turn_id), at
            )
        self._entries.insert(at, entry)
