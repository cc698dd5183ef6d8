"""Data-channel messages as the protocol allows them (docs/protocol.md): UTF-8 JSON objects
with a string `type`, at most 16 KiB. Screened here before any session sees them."""

from __future__ import annotations

import json
from typing import Any

DATA_CHANNEL_LABEL = "voxroom"
MAX_MESSAGE_BYTES = 16 * 1024


class BadMessage(ValueError):
    """The message breaks the protocol; the text says how (sent back as an `error`)."""


def parse_message(raw: str | bytes) -> dict[str, Any]:
    size = len(raw.encode()) if isinstance(raw, str) else len(raw)
    if size > MAX_MESSAGE_BYTES:
        raise BadMessage("message too large")
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # bad JSON, bad UTF-8, absurd nesting
        raise BadMessage("messages must be JSON objects") from exc
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise BadMessage("messages need a string 'type'")
    return message
