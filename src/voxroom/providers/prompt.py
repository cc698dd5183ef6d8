"""Plain-completion prompts for base (not instruction-tuned) models such as the packaged Gemma.

A chat template makes a base model echo; a few-shot "User: … / Assistant: …" transcript makes it
continue with a short, in-character answer. In a group call each person's lines carry their
name ("Alice: …") instead of "User:". Tools are listed in the preamble and called with
`<call>{"name": …, "arguments": {…}}</call>`; results come back as "Tool result: …" lines.
Chat endpoints get the same messages natively.
"""

from __future__ import annotations

import json
import re

from voxroom.providers.base import ChatMessage, ToolCall, ToolSpec

USER_PREFIX = "User:"
ASSISTANT_PREFIX = "Assistant:"
TOOL_PREFIX = "Tool result:"
CALL_OPEN, CALL_CLOSE = "<call>", "</call>"
# Where a base model starts inventing the next turn: stop there. Every turn is one line, so
# the line break ends the reply at once: waiting to see "User:" after it cost two tokens
# (~90 ms) before a short answer's only sentence could be spoken, and group calls name
# their speakers ("Bob:"), which no fixed stop string covers.
COMPLETION_STOPS = ["\n", "User:", "Assistant:", CALL_CLOSE]


def completion_prompt(messages: list[ChatMessage], tools: list[ToolSpec] | None = None) -> str:
    lines: list[str] = []
    for index, message in enumerate(messages):
        if message.role == "system":
            lines.append(message.text.strip())
            if index == 0 and tools:
                lines.append(
                    f'The assistant can use tools by answering {CALL_OPEN}{{"name": …, '
                    f'"arguments": {{…}}}}{CALL_CLOSE}:'
                )
                lines += [f"- {tool.signature()}" for tool in tools]
            lines.append("")
        elif message.role == "user":
            prefix = f"{message.speaker}:" if message.speaker else USER_PREFIX
            lines.append(f"{prefix} {message.text.strip()}")
        elif message.role == "tool":
            lines.append(f"{TOOL_PREFIX} {message.text.strip()}")
        else:
            lines.append(f"{ASSISTANT_PREFIX} {_assistant_text(message)}")
    lines.append(ASSISTANT_PREFIX)
    return "\n".join(lines)


def _assistant_text(message: ChatMessage) -> str:
    # An interrupted reply is kept as the words heard, unmarked: a base model imitates any
    # mark (" —" made Gemma answer "A —" after a few barge-ins; seen in the audit log).
    text = message.text.strip()
    for call in message.tool_calls:
        payload = json.dumps({"name": call.name, "arguments": json.loads(call.arguments or "{}")})
        text = f"{text} {CALL_OPEN}{payload}{CALL_CLOSE}".strip()
    return text


class CallExtractor:
    """Splits streamed completion text into speakable text and a trailing tool call."""

    def __init__(self) -> None:
        self._buffer = ""
        self._call: str | None = None  # text after <call>, once seen

    def push(self, delta: str) -> str:
        """Text safe to speak now (holds back anything that may be the start of `<call>`)."""
        if self._call is not None:
            self._call += delta
            return ""
        self._buffer += delta
        if (start := self._buffer.find(CALL_OPEN)) >= 0:
            speak, self._call = self._buffer[:start], self._buffer[start + len(CALL_OPEN) :]
            self._buffer = ""
            return speak
        keep = next(
            (n for n in range(len(CALL_OPEN) - 1, 0, -1) if self._buffer.endswith(CALL_OPEN[:n])), 0
        )
        speak = self._buffer[: len(self._buffer) - keep]
        self._buffer = self._buffer[len(speak) :]
        return speak

    def finish(self, call_index: int) -> tuple[str, ToolCall | None]:
        """The remaining text and the parsed call, if the model made one."""
        rest, self._buffer = self._buffer, ""
        if self._call is None:
            return rest, None
        return rest, parse_call(self._call, f"call_{call_index}")


def parse_call(text: str, call_id: str) -> ToolCall | None:
    """Small models write calls loosely: accept `{"name", "arguments"}`, `name{…}`, `name(…)`."""
    body = text.split(CALL_CLOSE)[0].strip()
    try:
        data = json.loads(body)
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            arguments = data.get("arguments", data.get("parameters", {}))
            return ToolCall(call_id, data["name"], json.dumps(arguments))
    except json.JSONDecodeError:
        pass
    if match := re.match(r"\s*(\w+)\s*[\({]\s*(.*?)\s*[\)}]?\s*$", body, re.S):
        name, raw = match.group(1), match.group(2)
        arguments = raw if raw.startswith("{") else "{" + raw + "}"
        return ToolCall(call_id, name, arguments)
    if match := re.search(r'"name"\s*:\s*"(\w+)"', body):
        return ToolCall(call_id, match.group(1), "{}")
    return None
