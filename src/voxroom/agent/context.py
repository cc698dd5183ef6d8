"""The conversation as the LLM sees it: instructions, few-shot examples, and what was said."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voxroom.agent.words import normalize
from voxroom.media.vision import user_content
from voxroom.providers.base import ChatMessage, ToolCall
from voxroom.transport.base import ParticipantInfo

# How much of the conversation the model sees, by default (`Agent.history_messages`). A base
# model copies its own history: shown 16 messages, the packaged Gemma said "Yes, you can take
# a walk." to 28 of 60 remarks in a call (`bench answers`); shown at most 6, it follows its
# few-shot examples more than itself.
HISTORY_MESSAGES = 6


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
        history_messages: int = HISTORY_MESSAGES,
    ) -> None:
        self._history_messages = history_messages
        self._history_start = 0  # earlier messages before this one are no longer shown
        self._preamble = [ChatMessage("system", instructions)]
        # Tool examples first: a base model imitates the most recent pattern most, and most
        # turns should be answered in words.
        for index, example in enumerate(tool_examples or []):
            self._preamble += example.messages(index)
        for question, answer in examples:
            self._preamble += [ChatMessage("user", question), ChatMessage("assistant", answer)]
        self._entries: list[_Entry] = []

    @property
    def preamble(self) -> list[ChatMessage]:
        """The instructions and examples every request of the session starts with."""
        return list(self._preamble)

    @property
    def history(self) -> list[ChatMessage]:
        return [entry.message for entry in self._entries]

    def messages_for(self, turn: UserTurn, history: bool = True) -> list[ChatMessage]:
        """The model's input to answer `turn`: everything before it (without `history`: only
        the instructions and examples), its context, then it."""
        extra = (
            [ChatMessage("system", "Context: " + " ".join(turn.context))] if turn.context else []
        )
        earlier = [e.message for e in self._entries if e.turn_id != turn.turn_id]
        return [
            *self._preamble,
            *(self._shown(earlier) if history else []),
            *extra,
            ChatMessage("user", user_content(turn.text, *turn.images), speaker=turn.speaker_name),
        ]

    def _shown(self, earlier: list[ChatMessage]) -> list[ChatMessage]:
        """The last messages, at most `history_messages`, in a window that moves in steps: it
        keeps its start until it is full, then drops all but the newest third. A window
        sliding every turn changes the start of the history every turn, so the model reads it
        all again; one that keeps its start lets llama.cpp reuse the prompt it evaluated last
        turn (bench answers, tuning half: first sentence p50 846 → 671 ms)."""
        limit = self._history_messages
        if limit <= 0:
            return []
        start = min(self._history_start, len(earlier))
        if len(earlier) - start > limit:
            start = len(earlier) - max(1, limit // 3)
        while start < len(earlier) and (earlier[start].role == "tool" or earlier[start].tool_calls):
            start += 1  # never a tool round without its beginning
        self._history_start = start
        return earlier[start:]

    def replies(self, asked_again: UserTurn | None = None) -> list[str]:
        """Everything the agent said in the session, as heard, oldest first; for a turn
        `asked_again`, without the replies to earlier turns of the same words (a user who
        asks again, not having heard or having forgotten, may get the same answer)."""
        asked = {e.turn_id: e.message.text for e in self._entries if e.message.role == "user"}
        same = normalize(asked_again.text) if asked_again is not None else None
        return [
            e.message.text
            for e in self._entries
            if e.message.role == "assistant"
            and not e.message.tool_calls
            and (same is None or normalize(asked.get(e.turn_id, "")) != same)
        ]

    def user_words(self, turn: UserTurn) -> str:
        """What the user said that may ask for an action: the turn's words and, when the
        agent's last reply before it asked something, the words of the turn it answered
        ("A taxi, please." → "Where to?" → "The airport at 7 pm.")."""
        earlier = [e for e in self._entries if e.turn_id != turn.turn_id]
        if earlier and earlier[-1].message.role == "assistant":
            asked = earlier[-1].message.text.rstrip().endswith("?")
            before = [e for e in earlier if e.message.role == "user"]
            if asked and before and before[-1].turn_id == earlier[-1].turn_id:
                return f"{before[-1].message.text} {turn.text}"
        return turn.text

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
        self._insert(turn_id, [ChatMessage("assistant", heard, interrupted=interrupted)])

    def add_tool_round(self, turn_id: int, call: ChatMessage, results: list[ChatMessage]) -> None:
        """Tools the model called while answering `turn_id`, and what they returned: kept with
        the turn, so the history shows what the examples show (a booking is a call, then its
        result, then the answer) and the model does not learn from it to confirm a booking
        without making it."""
        self._insert(turn_id, [call, *results])

    def _insert(self, turn_id: int | None, messages: list[ChatMessage]) -> None:
        """After the last entry of `turn_id` (at the end for None or an unknown turn)."""
        at = len(self._entries)
        if turn_id is not None:
            at = next(
                (i + 1 for i in reversed(range(at)) if self._entries[i].turn_id == turn_id), at
            )
        self._entries[at:at] = [_Entry(turn_id, message) for message in messages]
