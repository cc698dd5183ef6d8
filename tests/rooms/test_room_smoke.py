"""Smoke: a room on the real Janus, one participant, a typed question gets a spoken answer."""

from __future__ import annotations

import pytest

from tests.rooms.conftest import RoomApi

pytestmark = pytest.mark.slow


async def test_a_typed_question_in_a_room_gets_a_spoken_answer(rooms: RoomApi) -> None:
    room = await rooms.create_room(name="smoke")
    alice = await rooms.join(room["id"], "alice", "Alice")
    try:
        alice.send({"type": "chat", "text": "What is the capital of France?"})
        final = await alice.wait_for(
            lambda m: m.get("type") == "transcript" and m["role"] == "agent" and m["final"], 60
        )
        assert final["text"]
        # "Paris." alone is about 0.45 s of speech
        assert alice.received.speech_seconds_between(0) > 0.3
    finally:
        await alice.leave()
        await rooms.end_room(room["id"])
