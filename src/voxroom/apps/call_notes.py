"""What the copilot keeps of a call: who spoke when, what the customer asked and what was
suggested. The running summary the human agent sees, and the one saved at the end, are views
of it (no model writes them: what they say is what happened)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Asked:
    turn_id: int | None
    text: str
    kind: str  # "question" | "topic" | "ask" (the human agent typed it)
    document: str | None = None  # what the suggestion cited; None: the knowledge base had nothing
    section: str = ""


@dataclass(slots=True)
class CallNotes:
    started: float = field(default_factory=time.time)
    turns: dict[str, int] = field(default_factory=dict)  # role → turns spoken
    asked: list[Asked] = field(default_factory=list)

    def heard(self, role: str) -> None:
        self.turns[role] = self.turns.get(role, 0) + 1

    def summary(self, final: bool) -> dict[str, Any]:
        """The `summary` message (docs/protocol.md)."""
        answered = [a for a in self.asked if a.document]
        unanswered = [a for a in self.asked if not a.document and a.kind != "ask"]
        minutes = (time.time() - self.started) / 60
        turns = ", ".join(f"{n} {role} turns" for role, n in sorted(self.turns.items()))
        lines = [
            f"{'Call' if final else 'Call so far'}: {minutes:.1f} min"
            + (f", {turns}." if turns else ".")
        ]
        if answered:
            topics = "; ".join(
                f"{a.text.rstrip('?.!')} ({a.document}{f', {a.section}' if a.section else ''})"
                for a in answered
            )
            lines.append(f"Asked and suggested: {topics}.")
        if unanswered:
            lines.append(
                "Not in the knowledge base: "
                + "; ".join(a.text.rstrip("?.!") for a in unanswered)
                + "."
            )
        if not self.asked:
            lines.append("No questions yet.")
        return {
            "type": "summary",
            "final": final,
            "text": " ".join(lines),
            "duration_s": round(time.time() - self.started, 1),
            "turns": dict(self.turns),
            "questions": [
                {"turn_id": a.turn_id, "text": a.text, "kind": a.kind, "document": a.document}
                for a in self.asked
            ],
        }
