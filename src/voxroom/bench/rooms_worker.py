"""One room of the `voxroom bench rooms` ramp, in a child process of its own: two people
(RoomClients) who stream their microphones all along and take turns asking the agent a
question, one about every `period_s` seconds. Driven by JSON commands on stdin:

- `{"cmd": "join", "agent": name, "tokens": {identity: join token}}` → `joined` | `error`;
- `{"cmd": "run", "window_s", "period_s", "offset_s"}` → `window` with one record per
  question asked in the window (what `rooms_score.judge_question` judges);
- `{"cmd": "close"}`.

Each room has its own process so that one room's clients falling behind (a busy event loop)
never shows up as another room's agent falling behind.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Any

from voxroom.agent.policy import Addressed
from voxroom.bench.netns import VETH_ADDRESS
from voxroom.bench.rooms_call import (
    PEOPLE,
    QUESTION_QUIET_S,
    agent_spoke,
    is_user_final,
    v2v_ms,
    wait_message,
)
from voxroom.bench.rooms_people import Utterances, wait_agent_quiet
from voxroom.bench.rooms_score import REALTIME_ANSWER_S, speech_frame_ratio
from voxroom.bench.rooms_script import QUESTIONS, Person, question
from voxroom.bench.workers import CommandChannel
from voxroom.client import RoomClient

REPLY_END_TIMEOUT_S = 60.0


class RampRoom:
    def __init__(self, url: str, index: int, workdir: Path) -> None:
        self.url = url
        self.index = index
        self.utterances = Utterances(workdir)
        self.people: list[tuple[Person, RoomClient]] = []
        self.agent = ""
        self.asked = 0

    async def join(self, agent: str, tokens: dict[str, str]) -> None:
        self.agent = agent
        for person in PEOPLE:
            client = RoomClient(self.url, tokens[person.identity])
            self.people.append((person, client))
            await client.join()
        for i in range(len(QUESTIONS)):  # synthesized now, not while measuring
            person = PEOPLE[i % len(PEOPLE)]
            self.utterances.get(self._question(i), person.voice)

    def _question(self, i: int) -> str:
        return question(i + 3 * self.index, self.agent)[0]  # rooms start at different ones

    async def run(self, window_s: float, period_s: float, offset_s: float) -> list[dict[str, Any]]:
        """Ask a question every `period_s` (the first after `offset_s`; never into a reply)
        until `window_s` is over; each record once its reply has ended."""
        began = time.monotonic()
        due = began + offset_s
        records = []
        while due < began + window_s:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            await wait_agent_quiet(self.people[0][1], QUESTION_QUIET_S, REPLY_END_TIMEOUT_S)
            records.append(await self._ask())
            due = max(due + period_s, time.monotonic())
        return records

    async def _ask(self) -> dict[str, Any]:
        person, client = self.people[self.asked % len(self.people)]
        text = self._question(self.asked)
        self.asked += 1
        observer = self.people[0][1]
        start, end = await client.speak_timed(*self.utterances.get(text, person.voice))
        record: dict[str, Any] = {"room": self.index, "speaker": person.identity, "text": text}
        limit = end + REALTIME_ANSWER_S
        caption = await wait_message(observer, is_user_final, limit - time.monotonic(), start)
        record["heard"] = caption["text"] if caption else None
        record["caption_s"] = round(time.monotonic() - end, 2) if caption else None
        record["names_agent"] = bool(caption) and Addressed([self.agent]).mentions_agent(
            str(caption["text"] if caption else "")
        )
        if caption is not None:
            turn = agent_spoke(caption["turn_id"])
            await wait_message(observer, turn, max(0.0, limit - time.monotonic()), start)
        await wait_agent_quiet(observer, QUESTION_QUIET_S, REPLY_END_TIMEOUT_S)
        record["first_audio_ms"] = v2v_ms(client, end, time.monotonic())
        record["frame_ratio"] = {
            p.identity: speech_frame_ratio(
                c.received.times, c.received.levels, end, time.monotonic()
            )
            for p, c in self.people
        }
        return record

    async def leave(self) -> None:
        for _, client in self.people:
            await client.leave()


async def _serve(room: RampRoom, channel: CommandChannel) -> None:
    while (command := await channel.next()) is not None:
        match command["cmd"]:
            case "join":
                try:
                    await room.join(command["agent"], command["tokens"])
                except Exception as exc:  # reported: the orchestrator decides
                    channel.reply({"event": "error", "error": f"{type(exc).__name__}: {exc}"})
                else:
                    channel.reply({"event": "joined"})
            case "run":
                records = await room.run(
                    command["window_s"], command["period_s"], command["offset_s"]
                )
                channel.reply({"event": "window", "questions": records})
            case "close":
                return


async def _worker(url: str, index: int, workdir: Path) -> None:
    from voxroom.transport.webrtc import tuning

    tuning.apply(jitter_prefetch=0, host_addresses=[VETH_ADDRESS])
    channel = CommandChannel()
    await channel.open()
    room = RampRoom(url, index, workdir)
    try:
        await _serve(room, channel)
    finally:
        await room.leave()
        channel.reply({"event": "closed"})


def _main() -> None:
    parser = argparse.ArgumentParser(description="voxroom bench rooms: one ramp room")
    parser.add_argument("--url", required=True)
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(_worker(args.url, args.index, args.workdir))


if __name__ == "__main__":
    _main()
