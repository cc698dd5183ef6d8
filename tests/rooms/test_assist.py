"""The agent-assist copilot in a real room (Janus, real models): a customer and a human
agent, two espeak-ng voices. The customer's question is answered by the knowledge base (the
copilot's sample, `voxroom/apps/assist_kb`): the human agent's client gets a suggestion citing
the right document; small talk and a question it cannot answer get none; the customer's
client receives nothing from the copilot at all."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.rooms.conftest import RoomApi
from tests.rooms.test_rooms import speech
from voxroom.client import RoomClient

pytestmark = pytest.mark.slow
FIRST_SUGGESTION_S = 90  # the first one waits for the embedding model to load in the server


def is_suggestion(m: dict[str, Any]) -> bool:
    return m.get("type") == "suggestion"


async def heard(client: RoomClient, identity: str, after: float) -> dict[str, Any]:
    """The final caption of `identity`'s turn, as the human agent's client shows it."""
    return await client.wait_for(
        lambda m: m.get("type") == "transcript" and m["final"] and m.get("participant") == identity,
        40,
        after=after,
    )


async def test_the_copilot_helps_the_human_agent_only(rooms: RoomApi, speech_dir: Path) -> None:
    room = await rooms.create_room(name="support call", agent="assist")
    assert room["policy"] == "silent" and room["agent"] == "copilot"
    carla = await rooms.join(room["id"], "carla", "Carla", role="customer")
    sam = await rooms.join(room["id"], "sam", "Sam", role="agent")
    try:
        await sam.wait_for(lambda m: m.get("type") == "copilot", 20)

        # Small talk first: transcribed for Sam, no suggestion.
        start, _ = await carla.speak_timed(*speech(speech_dir, "Hi, how are you today?", "en-us"))
        await heard(sam, "carla", start)
        reply = speech(speech_dir, "I am fine, thank you. How can I help?", "en-gb")
        start, _ = await sam.speak_timed(*reply)
        said = await heard(sam, "sam", start)
        assert said["name"] == "Sam"

        # The question: a suggestion citing the router document reaches Sam.
        question = speech(speech_dir, "How do I reset my router?", "en-us")
        start, ended = await carla.speak_timed(*question)
        suggestion = await sam.wait_for(is_suggestion, FIRST_SUGGESTION_S, after=start)
        delay_ms = (time.monotonic() - ended) * 1000
        print(f"\nsuggestion {delay_ms:.0f} ms after the question ended: {suggestion}")
        assert suggestion["sources"][0]["document"] == "router.md", suggestion
        assert "reset" in suggestion["answer"].lower()
        assert suggestion["participant"] == "carla"

        # Asked again, with the model loaded: timed from the end of the question.
        again = speech(speech_dir, "Is there a fee if I cancel my contract early?", "en-us")
        start, ended = await carla.speak_timed(*again)
        second = await sam.wait_for(is_suggestion, 30, after=start)
        arrived = next(t for t, m in reversed(sam.messages) if m is second)
        print(f"second suggestion {1000 * (arrived - ended):.0f} ms after the question ended")
        assert second["sources"][0]["document"] == "cancellation.md", second

        # Not in the knowledge base: nothing suggested.
        start, _ = await carla.speak_timed(
            *speech(speech_dir, "Can you recommend a good pizza place nearby?", "en-us")
        )
        await heard(sam, "carla", start)
        with pytest.raises(TimeoutError):
            await sam.wait_for(is_suggestion, 5, after=start)

        # Sam asks the knowledge base himself.
        asked = time.monotonic()
        sam.send({"type": "ask", "text": "when is the bill due"})
        answer = await sam.wait_for(is_suggestion, 20, after=asked)
        assert answer["trigger"] == "ask" and answer["sources"][0]["document"] == "billing.md"

        summary = await sam.wait_for(lambda m: m.get("type") == "summary" and m["questions"], 10)
        assert "router.md" in summary["text"]
        # The customer received nothing from the copilot: no suggestion, summary, transcript.
        assert carla.messages == [], carla.messages
        assert carla.received.speech_seconds_between(0) == 0  # and it never spoke
    finally:
        await carla.leave()
        await sam.leave()
        await rooms.end_room(room["id"])
