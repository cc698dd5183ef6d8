"""Smoke: a room on the real Janus, one participant, a typed question gets a spoken answer."""

from __future__ import annotations

import asyncio

import pytest

from tests.rooms.conftest import RoomApi
from voxroom.client import RoomClient

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


async def test_the_agent_feed_is_up_once_its_messages_reach_us(rooms: RoomApi) -> None:
    """`agent_feed` (what `join` waits for) means the agent's captions reach us: Janus relays
    a publisher's data only to subscribers whose channel is open. Set before that, an answer
    sent at once was lost (a fleet test's first answer, 2026-12-06)."""
    room = await rooms.create_room(name="feed")
    token = await rooms.token(room=room["id"], identity="alice", name="Alice")
    alice = RoomClient(rooms.url, token)
    joining = asyncio.create_task(alice.join(30))
    try:
        await asyncio.wait_for(alice.agent_feed.wait(), 30)
        assert alice.hears_agent
        await joining
    finally:
        joining.cancel()
        await alice.leave()
        await rooms.end_room(room["id"])
