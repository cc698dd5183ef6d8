"""Scoring `voxroom bench rooms` from what a participant received (pure functions).

- Each scripted line owns the final user captions that arrived from its first sent sample
  until the next line's (the bench waits for a line's caption before the next line starts).
  A turn's last final caption counts (a merged turn replaces its earlier text).
- Speaker attribution: the share of those captions whose `participant` is the line's speaker.
- A line was *answered* when an agent caption with text for one of its turns arrived within
  `ANSWER_WITHIN_S` of that turn's final caption (the server sends one as each sentence of
  the reply starts playing). Precision and recall of "answered" against "addressed".
- Real time of the agent's voice: the frames received while it spoke against the 50 a
  second it sends (`speech_frame_ratio`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from voxroom.client.base import SPEECH_DBFS

ANSWER_WITHIN_S = 15.0
FRAME_S = 0.02

Messages = Sequence[tuple[float, dict[str, Any]]]  # (monotonic arrival, data-channel message)


@dataclass(frozen=True, slots=True)
class Caption:
    arrived: float
    turn_id: int
    participant: str | None
    text: str


@dataclass(frozen=True, slots=True)
class SpokenLine:
    """A scripted line as it was sent: `start`/`end`: its first and last sample sent."""

    index: int
    speaker: str
    text: str
    addressed: bool
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class LineOutcome:
    line: SpokenLine
    captions: tuple[Caption, ...]
    # Caption of the line → the agent's first caption answering it (None: never, in the run).
    answer_s: float | None
    within_s: float = ANSWER_WITHIN_S

    @property
    def answered(self) -> bool:
        return self.answer_s is not None and self.answer_s <= self.within_s

    @property
    def attributed(self) -> int:
        return sum(1 for c in self.captions if c.participant == self.line.speaker)

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.line.index,
            "speaker": self.line.speaker,
            "text": self.line.text,
            "addressed": self.line.addressed,
            "answered": self.answered,
            "answer_s": self.answer_s,
            "heard": [
                {"turn_id": c.turn_id, "participant": c.participant, "text": c.text}
                for c in self.captions
            ],
        }


def final_user_captions(messages: Messages) -> list[Caption]:
    """Each user turn's last final caption, in the order the turns were first finalized."""
    last: dict[int, Caption] = {}
    for arrived, m in messages:
        if m.get("type") == "transcript" and m.get("role") == "user" and m.get("final"):
            turn_id = int(m["turn_id"])
            first = last[turn_id].arrived if turn_id in last else arrived
            last[turn_id] = Caption(first, turn_id, m.get("participant"), str(m.get("text", "")))
    return sorted(last.values(), key=lambda c: c.arrived)


def agent_speech_times(messages: Messages) -> dict[int, list[float]]:
    """Arrival times of agent captions with text, by the turn they answer."""
    spoken: dict[int, list[float]] = {}
    for arrived, m in messages:
        if m.get("type") == "transcript" and m.get("role") == "agent" and m.get("text"):
            spoken.setdefault(int(m["turn_id"]), []).append(arrived)
    return spoken


STAGES = (
    *("eot_wait_ms", "confirm_ms", "stt_ms", "llm_first_token_ms", "first_sentence_ms"),
    *("tts_first_chunk_ms", "total_ms", "speculative_stt"),
)


def turn_stages(messages: Messages) -> dict[int, dict[str, Any]]:
    """Each turn's latency breakdown from the server (`turn_metrics`), by turn id."""
    return {
        int(m["turn_id"]): {k: m[k] for k in STAGES if k in m}
        for _, m in messages
        if m.get("type") == "turn_metrics" and "turn_id" in m
    }


def assign_captions(
    lines: Sequence[SpokenLine], captions: Iterable[Caption]
) -> dict[int, list[Caption]]:
    """Line index → the captions that arrived between its start and the next line's start.
    Captions from before the first line belong to none."""
    ordered = sorted(lines, key=lambda line: line.start)
    owned: dict[int, list[Caption]] = {line.index: [] for line in ordered}
    for caption in captions:
        owner = None
        for line in ordered:
            if line.start <= caption.arrived:
                owner = line
        if owner is not None:
            owned[owner.index].append(caption)
    return owned


def outcomes(
    lines: Sequence[SpokenLine], messages: Messages, within_s: float = ANSWER_WITHIN_S
) -> list[LineOutcome]:
    owned = assign_captions(lines, final_user_captions(messages))
    spoken = agent_speech_times(messages)
    return [
        LineOutcome(line, tuple(owned[line.index]), _answer_s(owned[line.index], spoken), within_s)
        for line in lines
    ]


def _answer_s(captions: Sequence[Caption], spoken: dict[int, list[float]]) -> float | None:
    delays = [t - c.arrived for c in captions for t in spoken.get(c.turn_id, []) if t >= c.arrived]
    return round(min(delays), 3) if delays else None


def attribution_accuracy(results: Sequence[LineOutcome]) -> float:
    """Share of the final user captions attributed to the person who spoke the line (0.0
    when there was no caption at all)."""
    captions = sum(len(r.captions) for r in results)
    return round(sum(r.attributed for r in results) / captions, 4) if captions else 0.0


def precision_recall(results: Sequence[LineOutcome]) -> tuple[float, float]:
    """("answered" lines that were addressed, addressed lines that were answered); 0.0 where
    there is nothing to divide by (an agent that never answers scores 0, not a vacuous 1)."""
    answered = [r for r in results if r.answered]
    addressed = [r for r in results if r.line.addressed]
    hits = sum(1 for r in answered if r.line.addressed)
    precision = hits / len(answered) if answered else 0.0
    recall = hits / len(addressed) if addressed else 0.0
    return round(precision, 4), round(recall, 4)


def speech_frame_ratio(
    times: Sequence[float], levels: Sequence[float], start: float, end: float
) -> float | None:
    """Frames received from the first to the last voiced frame in [start, end], against the
    frames a real-time sender sends over that span (one per 20 ms). None: nothing voiced.

    Frames missing (lost, or a sender that fell behind its clock) lower it; with DTX, a
    reply whose audio ran dry between sentences (the listener hears a gap) lowers it too."""
    voiced = [
        t
        for t, level in zip(times, levels, strict=True)
        if start <= t <= end and level > SPEECH_DBFS
    ]
    if not voiced:
        return None
    first, last = voiced[0], voiced[-1]
    received = sum(1 for t in times if first <= t <= last)
    expected = round((last - first) / FRAME_S) + 1
    return round(min(received / expected, 1.0), 3)


# --- the ramp: is every stream of every room still real time? --------------------------------
REALTIME_ANSWER_S = 10.0  # a question's caption and the agent's first audio, after its end
MIN_FRAME_RATIO = 0.9  # agent frames received while it speaks, of the real-time 50/s
# Inbound frames waiting in the server (health's `inbound_backlog_frames`) at any sample:
# 200 ms, the criterion of `bench sessions`. The stricter 100 ms is reported beside it.
MAX_BACKLOG_FRAMES = 10
STRICT_BACKLOG_FRAMES = 5


def judge_question(record: dict[str, Any]) -> list[str]:
    """Why a ramp question shows a room out of real time ([] if it does not).

    A caption that lost the agent's name is a recognition miss, not a real-time failure: its
    missing answer is not held against the step (the record stays, as `names_agent`)."""
    where = f"room {record['room']}: {record['text']!r}"
    if record.get("heard") is None:
        return [f"{where}: no caption within {REALTIME_ANSWER_S:.0f} s"]
    reasons = []
    first_audio = record.get("first_audio_ms")
    answered = first_audio is not None and first_audio <= REALTIME_ANSWER_S * 1000
    if record.get("names_agent") and not answered:
        reasons.append(f"{where}: no answer within {REALTIME_ANSWER_S:.0f} s")
    for identity, ratio in (record.get("frame_ratio") or {}).items():
        if ratio is not None and ratio < MIN_FRAME_RATIO:
            reasons.append(f"{where}: {identity} received {100 * ratio:.0f} % of agent frames")
    return reasons


def judge_step(
    rooms: int, questions: Sequence[dict[str, Any]], backlog_frames: int, errors: Sequence[str]
) -> dict[str, Any]:
    """One step of the ramp: `rooms` rooms, the questions their people asked in the window,
    the largest server inbound backlog sampled meanwhile, and rooms that failed to join or
    run. It holds when nothing gives a reason not to."""
    reasons = list(errors)
    if backlog_frames > MAX_BACKLOG_FRAMES:
        reasons.append(f"server inbound backlog {backlog_frames} frames")
    asked = {int(q["room"]) for q in questions}
    if silent := rooms - len(asked):
        reasons.append(f"{silent} rooms asked nothing")
    for record in questions:
        reasons.extend(judge_question(record))
    latencies = [float(q["first_audio_ms"]) for q in questions if q.get("first_audio_ms")]
    ratios = [
        float(r) for q in questions for r in (q.get("frame_ratio") or {}).values() if r is not None
    ]
    return {
        "rooms": rooms,
        "holds": not reasons,
        "reasons": reasons,
        "questions": len(questions),
        "misheard": sum(1 for q in questions if q.get("heard") and not q.get("names_agent")),
        "first_audio_ms_max": max(latencies, default=None),
        "frame_ratio_min": min(ratios, default=None),
        "inbound_backlog_frames_max": backlog_frames,
        "holds_strict": not reasons and backlog_frames <= STRICT_BACKLOG_FRAMES,
        "records": list(questions),
    }


def rooms_held(steps: Sequence[dict[str, Any]], key: str = "holds") -> int:
    """The most rooms of a step that held (`key`), with every smaller step holding too."""
    held = 0
    for step in sorted(steps, key=lambda s: int(s["rooms"])):
        if not step[key]:
            break
        held = int(step["rooms"])
    return held
