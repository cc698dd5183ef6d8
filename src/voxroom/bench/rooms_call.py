"""The scripted room of `voxroom bench rooms`, and its peer-to-peer twin questions.

Two people (RoomClients, espeak-ng voices en-us and en-gb) and the agent in one room, policy
`addressed`. They take turns through the script (`rooms_script`): questions naming the agent
and remarks to each other. The addressed policy also answers a follow-up from the person it
just answered, and anyone's turn after a reply that ended with "?", within 8 s of its reply
(agent/policy.py): so a remark is only spoken once the agent has been silent for longer than
that. Then the policy's documented behaviour *is* "answer the questions, not the remarks",
and the script's labels are the ground truth.

After each question is answered in the room, the same question without the name goes to the
agent in a peer-to-peer session on the same server (`VoxroomClient`), in the same voice:
voice-to-voice latency in a room and in a plain call, interleaved, on the same models.
Voice-to-voice = last sample of the question sent → first voiced agent frame received, on
the asking client (one clock).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from voxroom.agent.policy import Addressed
from voxroom.bench.rooms_people import Utterances, wait_agent_quiet
from voxroom.bench.rooms_score import ANSWER_WITHIN_S, SpokenLine, turn_stages
from voxroom.bench.rooms_script import Line, Person
from voxroom.client import CallClient, RoomClient, VoxroomClient

FOLLOW_UP_S = Addressed(()).follow_up_s  # the policy's own window (8 s)
REMARK_QUIET_S = FOLLOW_UP_S + 1.0  # agent silent this long before a remark
QUESTION_QUIET_S = 1.0  # ... before a question (its reply over: no barge-in)
CAPTION_TIMEOUT_S = 20.0  # a line not transcribed by then is left unheard
REMARK_SETTLE_S = 2.0  # after a remark's caption: time for a (wrong) reply to begin
PEOPLE = [Person("alice", "Alice", "en-us"), Person("bob", "Bob", "en-gb")]


def is_user_final(m: dict[str, Any]) -> bool:
    return m.get("type") == "transcript" and m.get("role") == "user" and bool(m.get("final"))


def agent_spoke(turn_id: int) -> Callable[[dict[str, Any]], bool]:
    def match(m: dict[str, Any]) -> bool:
        return (
            m.get("type") == "transcript"
            and m.get("role") == "agent"
            and m.get("turn_id") == turn_id
            and bool(m.get("text"))
        )

    return match


async def wait_message(
    client: CallClient, predicate: Callable[[dict[str, Any]], bool], timeout: float, after: float
) -> dict[str, Any] | None:
    try:
        return await client.wait_for(predicate, timeout, after=after)
    except TimeoutError:
        return None


def reply_text(client: CallClient, turn_id: int) -> str:
    """The agent's last caption of its reply to `turn_id` (final: all it played)."""
    texts = [m["text"] for _, m in client.messages if agent_spoke(turn_id)(m)]
    return str(texts[-1]) if texts else ""


def v2v_ms(client: CallClient, end: float, before: float) -> float | None:
    """Last sample sent → first voiced agent frame received (before `before`), in ms."""
    first = client.received.first_speech_after(end)
    return round((first - end) * 1000, 1) if first is not None and first < before else None


@dataclass
class ScriptRun:
    """What the scripted room and its twins produced (scored by `rooms_score`)."""

    observer: RoomClient  # whose received messages are scored
    lines: list[SpokenLine] = field(default_factory=list)
    first_audio_ms: dict[int, float] = field(default_factory=dict)  # line → room v2v
    p2p_turns: list[dict[str, Any]] = field(default_factory=list)


class ScriptedCall:
    def __init__(
        self,
        people: dict[str, tuple[Person, RoomClient]],
        p2p: VoxroomClient,
        utterances: Utterances,
    ) -> None:
        self.people = people
        self.p2p = p2p
        self.utterances = utterances
        self.observer = next(iter(people.values()))[1]
        self.run = ScriptRun(self.observer)

    async def play(self, script: list[Line]) -> ScriptRun:
        for line in script:
            await self._line(line)
        await wait_agent_quiet(self.observer, QUESTION_QUIET_S)
        return self.run

    async def _line(self, line: Line) -> None:
        person, client = self.people[line.speaker]
        quiet = QUESTION_QUIET_S if line.addressed else REMARK_QUIET_S
        await wait_agent_quiet(self.observer, quiet)
        start, end = await client.speak_timed(*self.utterances.get(line.text, person.voice))
        spoken = SpokenLine(line.index, line.speaker, line.text, line.addressed, start, end)
        self.run.lines.append(spoken)
        caption = await wait_message(self.observer, is_user_final, CAPTION_TIMEOUT_S, start)
        if caption is None:
            return
        if not line.addressed:
            await wait_message(
                self.observer, agent_spoke(caption["turn_id"]), REMARK_SETTLE_S, start
            )
            return
        await wait_message(self.observer, agent_spoke(caption["turn_id"]), ANSWER_WITHIN_S, start)
        await wait_agent_quiet(self.observer, QUESTION_QUIET_S)
        if (latency := v2v_ms(client, end, end + ANSWER_WITHIN_S)) is not None:
            self.run.first_audio_ms[line.index] = latency
        if line.p2p_text is not None:
            twin = await self.twin(line.p2p_text, person.voice)
            self.run.p2p_turns.append({"line": line.index, **twin})

    async def twin(self, text: str, voice: str) -> dict[str, Any]:
        """The question peer to peer: what was heard, the reply, voice-to-voice."""
        client = self.p2p
        await wait_agent_quiet(client, QUESTION_QUIET_S)
        start, end = await client.speak_timed(*self.utterances.get(text, voice))
        record: dict[str, Any] = {"text": text, "voice": voice, "heard": None, "reply": ""}
        caption = await wait_message(client, is_user_final, CAPTION_TIMEOUT_S, start)
        record["v2v_ms"] = None
        if caption is None:
            return record
        record["heard"] = caption["text"]
        if await wait_message(client, agent_spoke(caption["turn_id"]), ANSWER_WITHIN_S, start):
            await wait_agent_quiet(client, QUESTION_QUIET_S)
            record["reply"] = reply_text(client, caption["turn_id"])
            record["v2v_ms"] = v2v_ms(client, end, time.monotonic())
            record["stages"] = turn_stages(client.messages).get(caption["turn_id"])
        return record
