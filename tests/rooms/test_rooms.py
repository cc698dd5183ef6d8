"""Rooms on the real Janus: two people with different voices and the agent, speaking.

A question that names the agent gets a spoken answer both people hear; a remark from one
person to the other gets none; every transcript names the right speaker; someone leaves and
someone joins late."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.rooms.conftest import RoomApi
from voxroom.bench.harness import espeak_wav, trim_silence
from voxroom.client import RoomClient
from voxroom.media.audio import read_wav

pytestmark = pytest.mark.slow
FOLLOW_UP_S = 9.0  # longer than the addressed policy's follow-up window (8 s)


def speech(speech_dir: Path, text: str, voice: str) -> tuple[np.ndarray, int]:
    name = f"{voice}-{abs(hash(text))}.wav"
    samples, rate = read_wav(espeak_wav(text, speech_dir / name, voice=voice, tail_s=0.5))
    return trim_silence(samples), rate


def is_user_final(m: dict[str, Any]) -> bool:
    return m.get("type") == "transcript" and m["role"] == "user" and m["final"]


def agent_said(turn_id: int) -> Any:
    def match(m: dict[str, Any]) -> bool:
        return m.get("type") == "transcript" and m["role"] == "agent" and m["turn_id"] == turn_id

    return match


async def say(
    client: RoomClient, audio: tuple[np.ndarray, int], identity: str, word: str
) -> dict[str, Any]:
    """Speak; return the final caption of what the agent heard (as everyone receives it) once
    it holds `word`. "Nova," and a pause is a final caption of its own until the rest of the
    sentence merges into the same turn."""
    start, _ = await client.speak_timed(*audio)
    return await client.wait_for(
        lambda m: (
            is_user_final(m) and m.get("participant") == identity and word in m["text"].lower()
        ),
        40,
        after=start,
    )


async def test_two_people_and_the_agent_in_one_room(rooms: RoomApi, speech_dir: Path) -> None:
    room = await rooms.create_room(name="planning")
    alice = await rooms.join(room["id"], "alice", "Alice", role="customer")
    bob = await rooms.join(room["id"], "bob", "Bob")
    carol: RoomClient | None = None
    try:
        # Alice asks the agent by name: everyone hears the answer.
        question = speech(speech_dir, "Nova, what is the capital of France?", "en-us")
        heard = await say(alice, question, "alice", "capital")
        assert heard["name"] == "Alice"
        assert "capital" in heard["text"].lower()
        answer = await bob.wait_for(agent_said(heard["turn_id"]), 60)
        assert answer["text"]
        await alice.wait_for(lambda m: agent_said(heard["turn_id"])(m) and m["final"], 60)
        for listener in (alice, bob):
            assert listener.received.speech_seconds_between(0) > 0.3, "the answer was not heard"
        assert bob.heard["alice"].speech_seconds_between(0) > 1.0  # people hear each other

        # Bob talks to Alice, not to the agent: transcribed, attributed, not answered.
        await asyncio.sleep(FOLLOW_UP_S)
        remark = speech(speech_dir, "Alice, I think it will rain tomorrow afternoon.", "en-gb")
        said = await say(bob, remark, "bob", "rain")
        assert said["name"] == "Bob" and "rain" in said["text"].lower()
        with pytest.raises(TimeoutError):
            await alice.wait_for(agent_said(said["turn_id"]), 8)

        # Bob leaves; Carol joins late and asks: she is heard and answered.
        await bob.leave()
        await alice.wait_for(lambda m: m.get("type") == "participant" and m["event"] == "left", 15)
        carol = await rooms.join(room["id"], "carol", "Carol")
        late = speech(speech_dir, "Nova, how many legs does a spider have?", "en-us+f3")
        asked = await say(carol, late, "carol", "legs")
        assert asked["name"] == "Carol" and "legs" in asked["text"].lower()
        await carol.wait_for(agent_said(asked["turn_id"]), 60)

        described = await rooms.room(room["id"])
        assert {p["identity"] for p in described["participants"]} == {"alice", "carol"}
        roles = {p["identity"]: p["role"] for p in described["participants"]}
        assert roles["alice"] == "customer"
        # Every caption any client saw names its speaker.
        captions = [m for client in (alice, carol) for _, m in client.messages if is_user_final(m)]
        assert {m["participant"] for m in captions} == {"alice", "bob", "carol"}
    finally:
        for client in (alice, bob, carol):
            if client is not None:
                await client.leave()
        await rooms.end_room(room["id"])
