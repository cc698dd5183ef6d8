"""The conversation as the LLM sees it: instructions, few-shot examples, and what was said."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from voxroom.media.vision import user_content
from voxroom.providers.base import ChatMessage, ToolCall

MAX_HISTORY_MESSAGES = 16  # keeps the prompt small: short-context local models, fast prefill


@dataclass(slots=True)
class UserTurn:
    """A user turn as the agent's hooks see it; hooks may rewrite `text` or add context."""

    turn_id: int
    text: str
    source: str  # "voice" | "chat"
    context: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)

    def add_image(self, part: dict[str, Any]) -> None:
        """Show the model an image with this turn (OpenAI `image_url` part, e.g. from
        `voxroom.media.vision.latest_frame_part(self.session.transport.video_in)`)."""
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


class ChatContext:
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
        self.history: list[ChatMessage] = []

    def messages_for(self, turn: UserTurn) -> list[ChatMessage]:
        extra = (
            [ChatMessage("system", "Context: " + " ".join(turn.context))] if turn.context else []
        )
        return [
            *self._preamble,
            *self.history[-MAX_HISTORY_MESSAGES:],
            *extra,
            ChatMessage("user", user_content(turn.text, *turn.images)),
        ]

    def add_exchange(self, user_text: str, agent_text: str, interrupted: bool) -> None:
        """Record a finished turn; `agent_text` is what was actually played, not generated."""
        self.history.append(ChatMessage("user", user_text))
        if agent_text.strip():
            self.history.append(ChatMessage("assistant", agent_text, interrupted=interrupted))
