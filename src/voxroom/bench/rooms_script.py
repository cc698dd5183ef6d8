"""What the simulated people say in `voxroom bench rooms`: questions for the agent (its name
in them) and remarks to each other (no name, no wake phrase), and the order they come in.

Every question has a peer-to-peer twin without the name, asked of the same server in the
same run: the room's latency is compared with that of the same question in a plain call.
"""

from __future__ import annotations

from dataclasses import dataclass

# (in the room, "{name}" standing for the agent's name; the same question peer to peer)
QUESTIONS: list[tuple[str, str]] = [
    ("{name}, what is the capital of Italy?", "What is the capital of Italy?"),
    ("{name}, how many legs does a spider have?", "How many legs does a spider have?"),
    ("{name}, what is the largest ocean on Earth?", "What is the largest ocean on Earth?"),
    ("{name}, who wrote Romeo and Juliet?", "Who wrote Romeo and Juliet?"),
    ("{name}, how many days are in a week?", "How many days are in a week?"),
    ("{name}, what color is the sky?", "What color is the sky?"),
    ("{name}, what is the tallest mountain in the world?", "What is the tallest mountain?"),
    ("{name}, how do I make a cup of tea?", "How do I make a cup of tea?"),
    ("{name}, what is the capital of Japan?", "What is the capital of Japan?"),
    ("{name}, can you tell me a fun fact?", "Can you tell me a fun fact?"),
    ("What is the boiling point of water, {name}?", "What is the boiling point of water?"),
    ("{name}, which planet is closest to the sun?", "Which planet is closest to the sun?"),
    ("{name}, how many minutes are in an hour?", "How many minutes are in an hour?"),
    ("Tell me, {name}, what do bees make?", "Tell me, what do bees make?"),
]
# People talking to each other: "{other}" is the other person's name.
REMARKS: list[str] = [
    "{other}, did you watch the game yesterday?",
    "I think it will rain tomorrow afternoon.",
    "{other}, can you send me the slides after lunch?",
    "The coffee machine on the third floor is broken again.",
    "Let us meet at the station at six.",
    "{other}, I really liked your presentation this morning.",
    "My train was late again today.",
    "{other}, do you want to order pizza for the team?",
    "I left my umbrella in the car.",
    "We should book the meeting room for Friday.",
    "{other}, how was your holiday in Spain?",
    "The new printer works much better than the old one.",
    "{other}, remind me to call the bank later.",
    "I am going to the gym after work.",
]


@dataclass(frozen=True, slots=True)
class Person:
    identity: str
    name: str
    voice: str  # espeak-ng voice


@dataclass(frozen=True, slots=True)
class Line:
    """One utterance of the script: who says it, and whether it addresses the agent."""

    index: int
    speaker: str  # identity
    text: str
    addressed: bool
    p2p_text: str | None = None  # addressed lines: the same question without the name


def question(index: int, agent_name: str) -> tuple[str, str]:
    """The `index`th question (cycling): (room text with the name, peer-to-peer text)."""
    room, p2p = QUESTIONS[index % len(QUESTIONS)]
    return room.format(name=agent_name), p2p


def build_script(agent_name: str, people: list[Person], per_kind: int) -> list[Line]:
    """`per_kind` questions and `per_kind` remarks, two of a kind at a time (two questions,
    then two remarks, …), the speakers alternating, so every person asks and remarks and a
    remark follows both an answered question and another remark."""
    lines: list[Line] = []
    asked = remarked = 0
    while asked < per_kind or remarked < per_kind:
        for addressed in (True, True, False, False):
            if addressed and asked < per_kind:
                speaker = people[asked % len(people)]
                text, p2p = question(asked, agent_name)
                lines.append(Line(len(lines), speaker.identity, text, True, p2p))
                asked += 1
            elif not addressed and remarked < per_kind:
                speaker = people[(remarked + 1) % len(people)]
                other = people[(remarked + 2) % len(people)]
                text = REMARKS[remarked % len(REMARKS)].format(other=other.name)
                lines.append(Line(len(lines), speaker.identity, text, False))
                remarked += 1
    return lines
