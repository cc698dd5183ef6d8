"""Agent-assist copilot: listens to a call between a customer and a human agent and helps the
human agent live. It never speaks and publishes nothing: everything it says goes to the
participants whose role is `agent` (their join token's `role`), never to the customer.

- each customer turn that asks a question or raises a support topic (`knowledge.questions`:
  heuristics, then the LLM for what they cannot tell) is looked up in the knowledge base, and
  a good enough match becomes a `suggestion` citing its document;
- the human agent sees the live transcript (the session's captions, for their role only) and
  a running `summary`; they can `ask` the knowledge base themselves;
- at the end of the call the summary is saved to the audit trail.

Run: `voxroom dev --agent voxroom.apps.assist:Copilot`, or a room with `{"agent": "assist",
"policy": "silent"}`. Knowledge: a folder of Markdown, text and PDF files, from
`VOXROOM_ASSIST_KNOWLEDGE` (else `knowledge` below, else the sample in `assist_kb/`: the
support documents of a made-up broadband company).
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any, ClassVar

from voxroom import Agent, UserTurn
from voxroom.apps.call_notes import Asked, CallNotes
from voxroom.knowledge import Hit, KnowledgeBase, open_knowledge
from voxroom.knowledge.answers import answer_sentences, source
from voxroom.knowledge.questions import Cue, detect
from voxroom.transport.base import ParticipantInfo

log = logging.getLogger(__name__)
SAMPLE_KNOWLEDGE = Path(__file__).with_name("assist_kb")
MAX_ASK_CHARS = 500


class Copilot(Agent):
    name = "copilot"
    turn_policy = "silent"
    captions_to = ("agent",)
    # The knowledge folder (VOXROOM_ASSIST_KNOWLEDGE wins; None: the sample).
    knowledge: ClassVar[str | None] = None
    agent_role: ClassVar[str] = "agent"  # who gets the help; everyone else is the customer side
    # The score a passage needs to be suggested unasked (`knowledge.Hit.score`: cosine
    # similarity plus a word-overlap bonus). Set between what `voxroom bench assist` heard of
    # its answerable questions (lowest 0.34) and of its small talk and unanswerable questions
    # (highest 0.23, one outlier at 0.47): docs/benchmarks.md.
    min_similarity: ClassVar[float] = 0.30
    max_sources: ClassVar[int] = 3

    def __init__(self) -> None:
        self.notes = CallNotes()
        self.helped: set[str] = set()  # identities of human agents seen (the summary's audience)
        self.kb: KnowledgeBase | None = None
        self._suggestions = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- the call ------------------------------------------------------------------------------
    def knowledge_base(self) -> KnowledgeBase:
        """The knowledge base to search (override to build your own)."""
        folder = os.environ.get("VOXROOM_ASSIST_KNOWLEDGE") or self.knowledge or SAMPLE_KNOWLEDGE
        return open_knowledge(Path(folder))

    async def on_enter(self) -> None:
        try:
            self.kb = self.knowledge_base()
        except (FileNotFoundError, ImportError) as exc:
            self.session.on_error(f"copilot: no knowledge base: {exc}", component="agent")
            return
        self._own(self._warm_up(self.kb))  # load the model and index now, not at the first question

    async def _warm_up(self, kb: KnowledgeBase) -> None:
        try:
            report = await kb.ready()
        except Exception as exc:  # a missing extra, an unreadable store: say so, keep listening
            log.exception("copilot: knowledge base %s failed", kb.folder)
            self.session.on_error(f"copilot: knowledge base failed: {exc}", component="agent")
            return
        for document, why in report.failed.items():
            self.session.on_error(f"copilot: {document} skipped: {why}", component="agent")

    async def on_participant_joined(self, participant: ParticipantInfo) -> None:
        if participant.role == self.agent_role:
            self.helped.add(participant.identity)
            folder = str(self.kb.folder) if self.kb is not None else None
            hello = {"type": "copilot", "knowledge": folder}
            self.session.send(hello, to=[participant.identity])
            self.session.send(self.notes.summary(final=False), to=[participant.identity])

    async def on_participant_left(self, participant: ParticipantInfo) -> None:
        if participant.role != self.agent_role:  # the customer hung up: the call's summary
            self.session.send(self.notes.summary(final=True), roles=[self.agent_role])

    async def on_user_turn(self, turn: UserTurn) -> None:
        turn.respond = False  # a copilot never speaks (the room's policy is silent anyway)
        speaker = turn.speaker
        role = speaker.role if speaker else "user"
        self.notes.heard(role)
        if role == self.agent_role or self.kb is None:
            return
        cue = await detect(turn.text, self.session.models.llm)
        if not cue.worth_a_lookup:
            return
        hits = await self.kb.search(cue.query, self.max_sources)
        confident = [h for h in hits if h.score >= self.min_similarity]
        self.notes.asked.append(
            Asked(
                turn.turn_id,
                cue.query,
                cue.kind,
                confident[0].passage.document if confident else None,
                confident[0].passage.heading if confident else "",
            )
        )
        if confident:
            who = speaker.identity if speaker else None
            self._suggest(cue, confident, turn.turn_id, who, to=None)
        self.session.send(self.notes.summary(final=False), roles=[self.agent_role])

    async def on_app_message(self, sender: ParticipantInfo | None, message: dict[str, Any]) -> bool:
        if message.get("type") != "ask":
            return False
        if sender is None or sender.role != self.agent_role or self.kb is None:
            return True  # only the human agent asks; the customer learns nothing of the copilot
        text = str(message.get("text", "")).strip()[:MAX_ASK_CHARS]
        if not text:
            return True
        hits = await self.kb.search(text, self.max_sources)
        best = hits[0] if hits and hits[0].score >= self.min_similarity else None
        document = best.passage.document if best else None
        self.notes.asked.append(
            Asked(None, text, "ask", document, best.passage.heading if best else "")
        )
        cue = Cue("question", text)
        self._suggest(cue, hits, None, sender.identity, to=[sender.identity], trigger="ask")
        return True

    async def on_exit(self) -> None:
        for task in self._tasks:
            task.cancel()
        # Saved to the audit trail (an `app_message`), addressed to the agents of the call.
        self.session.send(self.notes.summary(final=True), to=sorted(self.helped))

    # --- helpers -----------------------------------------------------------------------------
    def _suggest(
        self,
        cue: Cue,
        hits: list[Hit],
        turn_id: int | None,
        participant: str | None,
        *,
        to: list[str] | None,
        trigger: str | None = None,
    ) -> None:
        self._suggestions += 1
        best = hits[0] if hits else None
        suggestion = {
            "type": "suggestion",
            "id": self._suggestions,
            "trigger": trigger or cue.kind,
            "turn_id": turn_id,
            "participant": participant,
            "question": cue.query,
            "answer": answer_sentences(cue.query, best.passage.text) if best else "",
            "confident": best is not None and best.score >= self.min_similarity,
            "sources": [source(hit) for hit in hits],
        }
        if to is None:
            self.session.send(suggestion, roles=[self.agent_role])
        else:
            self.session.send(suggestion, to=to)

    def _own(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
