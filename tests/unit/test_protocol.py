"""agent/protocol.py: client → agent message validation (docs/protocol.md)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from voxroom.agent import protocol as msg


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ({"type": "chat", "text": "hi"}, msg.ChatIn),
        ({"type": "chat", "text": "x" * 2000}, msg.ChatIn),
        ({"type": "mode", "mode": "hands_free"}, msg.ModeIn),
        ({"type": "mode", "mode": "push_to_talk"}, msg.ModeIn),
        ({"type": "push_to_talk", "action": "press"}, msg.PushToTalkIn),
        ({"type": "push_to_talk", "action": "release"}, msg.PushToTalkIn),
        ({"type": "interrupt"}, msg.InterruptIn),
    ],
)
def test_valid_client_messages_are_accepted(raw: dict[str, Any], kind: type) -> None:
    parsed = msg.client_message_adapter.validate_python(raw)

    assert isinstance(parsed, kind)
    assert parsed.model_dump() == raw


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param({"type": "dance"}, id="unknown-type"),
        pytest.param({"text": "hi"}, id="no-type"),
        pytest.param({"type": "chat"}, id="chat-without-text"),
        pytest.param({"type": "mode"}, id="mode-without-mode"),
        pytest.param({"type": "push_to_talk"}, id="ptt-without-action"),
        pytest.param({"type": "chat", "text": "hi", "urgent": True}, id="extra-field"),
        pytest.param({"type": "interrupt", "now": 1}, id="extra-field-on-interrupt"),
        pytest.param({"type": "chat", "text": ""}, id="empty-chat"),
        pytest.param({"type": "chat", "text": "x" * 2001}, id="chat-too-long"),
        pytest.param({"type": "chat", "text": 42}, id="chat-text-not-a-string"),
        pytest.param({"type": "mode", "mode": "walkie_talkie"}, id="unknown-mode"),
        pytest.param({"type": "push_to_talk", "action": "hold"}, id="unknown-action"),
        pytest.param({"type": "session", "session_id": "x", "agent": "y"}, id="agent-only-type"),
    ],
)
def test_invalid_client_messages_are_rejected(raw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        msg.client_message_adapter.validate_python(raw)


def test_outbound_messages_serialize_to_the_documented_shape() -> None:
    transcript = msg.TranscriptMessage(role="agent", final=True, text="Hi.", turn_id=3)

    assert transcript.model_dump(exclude_none=True) == {
        "type": "transcript",
        "role": "agent",
        "final": True,
        "text": "Hi.",
        "turn_id": 3,
    }
    assert msg.StateChanged(state="speaking").model_dump() == {"type": "state", "state": "speaking"}
    assert msg.ErrorMessage(message="x").model_dump() == {"type": "error", "message": "x"}


def test_outbound_models_forbid_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        msg.StateChanged(state="speaking", extra=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        msg.StateChanged(state="dreaming")  # type: ignore[arg-type]
