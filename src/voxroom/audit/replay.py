"""Replay: a recorded session's user audio through a (possibly different) agent pipeline.

The original user track is played in real time into a fresh session of a `voxroom dev`
server running the chosen agent; the new transcripts and turn latencies are lined up with the
recorded ones, turn by turn — a regression check for model, prompt or engine changes.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voxroom.audit.records import StoredEvent
from voxroom.media.audio import read_wav

TAIL_S = 8.0  # after the audio ends: let the last reply finish


@dataclass(slots=True)
class TurnSide:
    user: str = ""
    agent: str = ""
    total_ms: float | None = None


@dataclass(slots=True)
class ReplayReport:
    session_id: str
    agent: str
    original: list[TurnSide] = field(default_factory=list)
    replayed: list[TurnSide] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        count = max(len(self.original), len(self.replayed))
        blank = TurnSide()
        rows = []
        for index in range(count):
            before = self.original[index] if index < len(self.original) else blank
            after = self.replayed[index] if index < len(self.replayed) else blank
            rows.append(
                {
                    "turn": index + 1,
                    "user_before": before.user,
                    "user_after": after.user,
                    "user_same": _norm(before.user) == _norm(after.user),
                    "agent_before": before.agent,
                    "agent_after": after.agent,
                    "total_ms_before": before.total_ms,
                    "total_ms_after": after.total_ms,
                }
            )
        return rows


def _norm(text: str) -> str:
    return " ".join("".join(c for c in text.lower() if c.isalnum() or c.isspace()).split())


def turns_from_events(events: list[dict[str, Any]]) -> list[TurnSide]:
    """Voice turns in order: final user transcript, final agent speech, total latency."""
    turns: dict[int, TurnSide] = {}
    for event in events:
        turn_id = event.get("turn_id")
        if turn_id is None:
            continue
        if event["type"] == "user_transcript" and event.get("final"):
            turns.setdefault(turn_id, TurnSide()).user = event["text"]
        elif event["type"] == "agent_speech" and event.get("final") and turn_id in turns:
            turns[turn_id].agent = event.get("played_text", "")
        elif event["type"] == "turn_metrics" and turn_id in turns:
            turns[turn_id].total_ms = event.get("total_ms")
    return [turns[k] for k in sorted(turns)]


def _client_events(messages: list[tuple[float, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The client's view (protocol messages) mapped onto event shapes."""
    events: list[dict[str, Any]] = []
    for _, message in messages:
        if message.get("type") == "transcript":
            kind = "user_transcript" if message["role"] == "user" else "agent_speech"
            events.append(
                {
                    "type": kind,
                    "turn_id": message["turn_id"],
                    "final": message["final"],
                    "text": message["text"],
                    "played_text": message["text"],
                }
            )
        elif message.get("type") == "turn_metrics":
            events.append({"type": "turn_metrics", **message})
    return events


async def _replay_audio(url: str, user_wav: Path) -> list[dict[str, Any]]:
    from voxroom.client import VoxroomClient

    samples, rate = read_wav(user_wav)
    client = VoxroomClient(url)
    await client.connect()
    try:
        await client.speak(samples, rate)
        deadline = time.monotonic() + TAIL_S
        while time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            last = client.messages[-1][1] if client.messages else {}
            if last == {"type": "state", "state": "listening"} and time.monotonic() > deadline - 5:
                break
    finally:
        await client.close()
    return _client_events(client.messages)


def replay(session_id: str, rows: list[StoredEvent], session_dir: Path, agent: str) -> ReplayReport:
    from voxroom.bench.harness import running_server
    from voxroom.transport.webrtc import tuning

    events = [row.data() for row in rows]
    saved = next((e for e in events if e["type"] == "recording_saved"), None)
    user_wav = session_dir / (saved["files"]["user"] if saved else "user.wav")
    if not user_wav.exists():
        raise FileNotFoundError(f"no user recording for session {session_id} at {user_wav}")
    tuning.apply(jitter_prefetch=0, host_addresses=["127.0.0.1"])
    with (
        tempfile.TemporaryDirectory(prefix="voxroom-replay-") as tmp,
        running_server(Path(tmp) / "server.log", "--agent", agent) as url,
    ):
        replayed = asyncio.run(_replay_audio(url, user_wav))
    return ReplayReport(session_id, agent, turns_from_events(events), turns_from_events(replayed))
