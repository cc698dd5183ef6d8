"""Plain-completion prompts for base (not instruction-tuned) models such as the packaged Gemma.

A chat template makes a base model echo; a few-shot "User: … / Assistant: …" transcript makes it
continue with a short, in-character answer. Chat endpoints get the same messages natively.
"""

from __future__ import annotations

from voxroom.providers.base import ChatMessage

USER_PREFIX = "User:"
ASSISTANT_PREFIX = "Assistant:"
# Where a base model starts inventing the next turn: stop there.
COMPLETION_STOPS = ["\nUser:", "\nAssistant:", "\n\n", "User:"]


def completion_prompt(messages: list[ChatMessage]) -> str:
    lines: list[str] = []
    for message in messages:
        if message.role == "system":
            lines.append(message.content.strip())
            lines.append("")
        elif message.role == "user":
            lines.append(f"{USER_PREFIX} {message.content.strip()}")
        else:
            text = message.content.strip()
            if message.interrupted:
                text += " —"  # the user cut the agent off here
            lines.append(f"{ASSISTANT_PREFIX} {text}")
    lines.append(ASSISTANT_PREFIX)
    return "\n".join(lines)
