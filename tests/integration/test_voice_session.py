"""Real sessions end to end: aiortc client ↔ `voxroom dev` with the packaged local models."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningServer, espeak_wav
from voxroom.client import VoxroomClient
from voxroom.media.audio import read_wav

pytestmark = pytest.mark.slow

REPLY_TIMEOUT_S = 60.0
QUESTION = "What is the capital city of Germany?"


def _is_final(role: str, **extra: Any) -> Any:
    def match(message: dict[str, Any]) -> bool:
        if message.get("type") != "transcript" or message["role"] != role or not message["final"]:
            return False
        return all(message.get(k) == v for k, v in extra.items())

    return match


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


async def test_spoken_question_gets_a_spoken_reply(server: RunningServer, speech_dir: Path) -> None:
    # Not "… of France?": Whisper base hears espeak's "of France" as "and friends" in 19 of 20
    # onsets over Opus; this sentence was heard right in 20 of 20.
    samples, rate = read_wav(espeak_wav(QUESTION, speech_dir / "q.wav"))
    client = VoxroomClient(server.url)
    try:
        await client.connect()
        await asyncio.sleep(0.3)
        speech_end = await client.speak(samples, rate)
        user = await client.wait_for(_is_final("user"), REPLY_TIMEOUT_S)
        agent = await client.wait_for(_is_final("agent"), REPLY_TIMEOUT_S)
        await asyncio.sleep(0.3)  # the last frames in flight
    finally:
        await client.close()
    log = server.log()
    assert {"capital", "germany"} <= _words(user["text"]), f"heard {user['text']!r}\n{log}"
    assert agent["text"].strip() and agent["interrupted"] is False, agent
    assert agent["turn_id"] == user["turn_id"]
    first_audio = client.received.first_speech_after(speech_end)
    assert first_audio is not None, "no agent audio received"
    spoken = client.received.speech_seconds_between(speech_end)
    # Plausible speech for the reply text: roughly 5–25 characters per second of audio.
    chars = len(agent["text"])
    assert chars / 25 <= spoken <= max(chars / 5, 1.0), (spoken, agent["text"])
    metrics = [m for _, m in client.messages if m["type"] == "turn_metrics"]
    assert metrics and metrics[0]["total_ms"] > 0 and metrics[0]["turn_id"] == user["turn_id"]
    states = [m["state"] for _, m in client.messages if m["type"] == "state"]
    assert states[:1] == ["listening"] and "speaking" in states and states[-1] == "listening"


async def test_a_long_turn_gets_interim_captions_a_short_one_only_its_final(
    server: RunningServer, speech_dir: Path
) -> None:
    long_text = (
        "I would like to book a table for four people tomorrow evening at seven, "
        "somewhere quiet near the city centre, with a vegetarian menu."
    )
    long_turn, rate = read_wav(espeak_wav(long_text, speech_dir / "long.wav"))
    assert long_turn.size / rate > 6.0  # interims from 3 s of speech on, every 1.5 s
    short_turn, short_rate = read_wav(espeak_wav(QUESTION, speech_dir / "short.wav"))
    client = VoxroomClient(server.url)
    try:
        await client.connect()
        await asyncio.sleep(0.3)
        await client.speak(long_turn, rate)
        first = await client.wait_for(_is_final("user"), REPLY_TIMEOUT_S)
        await client.wait_for(_is_final("agent", turn_id=first["turn_id"]), REPLY_TIMEOUT_S)
        await client.speak(short_turn, short_rate)
        second = await client.wait_for(
            _is_final("user", turn_id=first["turn_id"] + 1), REPLY_TIMEOUT_S
        )
    finally:
        await client.close()

    def interims(turn_id: int) -> list[str]:
        return [
            m["text"]
            for _, m in client.messages
            if m.get("type") == "transcript"
            and m["role"] == "user"
            and not m["final"]
            and m["turn_id"] == turn_id
        ]

    long_interims = interims(first["turn_id"])
    assert long_interims, f"no interim caption during {long_turn.size / rate:.1f} s of speech"
    # An interim is the utterance so far: words of the final transcript.
    shared = _words(long_interims[0]) & _words(first["text"])
    assert len(shared) >= 3, (long_interims, first["text"])
    assert interims(second["turn_id"]) == [], "a short question got an interim caption"
    assert {"capital", "germany"} <= _words(second["text"]), second


async def test_user_speech_interrupts_the_agent(server: RunningServer, speech_dir: Path) -> None:
    samples, rate = read_wav(
        espeak_wav("Wait, stop, I have another question for you.", speech_dir / "barge.wav")
    )
    client = VoxroomClient(server.url)
    try:
        await client.connect()
        client.send({"type": "chat", "text": "Tell me a long story about a dragon and a knight."})
        await client.wait_for(lambda m: m == {"type": "state", "state": "speaking"}, 60)
        await client.speak(samples, rate)
        agent = await client.wait_for(_is_final("agent", turn_id=1), REPLY_TIMEOUT_S)
        # The answer to the barge-in; a pause in it ("Wait, … stop, …") may have ended the
        # turn provisionally, and the words after it then joined the same turn.
        await client.wait_for(_is_final("agent", turn_id=2), REPLY_TIMEOUT_S)
        next_user = [m for _, m in client.messages if _is_final("user", turn_id=2)(m)][-1]
    finally:
        await client.close()
    assert agent["interrupted"] is True, f"{agent}\n{server.log()}"
    # What enters the context is what was heard: a word prefix of what had started playing.
    started = [
        m["text"]
        for _, m in client.messages
        if m.get("type") == "transcript"
        and m["role"] == "agent"
        and not m["final"]
        and m["turn_id"] == 1
    ][-1]
    heard = agent["text"].split()
    assert heard == started.split()[: len(heard)] and len(heard) < len(started.split()), (
        heard,
        started,
    )
    assert "question" in _words(next_user["text"]) or "stop" in _words(next_user["text"])


async def test_concurrent_sessions_each_get_their_answer(server: RunningServer) -> None:
    clients = [VoxroomClient(server.url) for _ in range(3)]
    questions = ["What is the capital of Italy?", "Tell me a fun fact.", "Who are you?"]
    try:
        await asyncio.gather(*(c.connect() for c in clients))
        for client, question in zip(clients, questions, strict=True):
            client.send({"type": "chat", "text": question})
        replies = await asyncio.gather(
            *(c.wait_for(_is_final("agent"), REPLY_TIMEOUT_S * 2) for c in clients)
        )
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    for client, question, reply in zip(clients, questions, replies, strict=True):
        assert client.transcripts("user")[0]["text"] == question
        assert reply["text"].strip(), reply
