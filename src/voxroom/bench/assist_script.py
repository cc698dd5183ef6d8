"""The scripted support call of `voxroom bench assist`: what the customer says (questions the
sample knowledge base answers, questions it cannot, small talk) and what the human agent says
now and then. The knowledge base is the copilot's sample (`voxroom/apps/assist_kb`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["answerable", "unanswerable", "small_talk"]


@dataclass(frozen=True, slots=True)
class Line:
    text: str
    kind: Kind
    document: str | None = None  # the document a suggestion must cite (answerable lines)


def _a(text: str, document: str) -> Line:
    return Line(text, "answerable", document)


CUSTOMER: list[Line] = [
    Line("Hi, how are you today?", "small_talk"),
    _a("When is my monthly bill due?", "billing.md"),
    _a("How do I change the card I pay with?", "billing.md"),
    _a("I was charged twice this month, can I get my money back?", "billing.md"),
    Line("Thank you, that is very helpful.", "small_talk"),
    _a("What happens if I pay my bill late?", "billing.md"),
    _a("How do I reset my router?", "router.md"),
    Line("Do you sell mobile phones?", "unanswerable"),
    _a("How can I change my wifi password?", "router.md"),
    _a("The light on my router is red, what does that mean?", "router.md"),
    Line("The weather is lovely today, isn't it?", "small_talk"),
    _a("My internet is really slow in the evening.", "troubleshooting.txt"),
    _a("My connection keeps dropping all the time.", "troubleshooting.txt"),
    Line("Can you recommend a good pizza place nearby?", "unanswerable"),
    _a("Is there an outage in my area right now?", "troubleshooting.txt"),
    _a("I am moving to a new apartment next month, what do I need to do?", "moving.md"),
    _a("How much does the installation cost when I move?", "moving.md"),
    Line("I'm fine, thanks for asking.", "small_talk"),
    _a("I want to cancel my contract.", "cancellation.md"),
    _a("Is there a fee if I cancel early?", "cancellation.md"),
    Line("What time does the football match start tonight?", "unanswerable"),
    _a("How do I send the router back after I cancel?", "equipment-returns.pdf"),
    _a("My streaming box is broken, will you replace it?", "equipment-returns.pdf"),
    _a("I forgot my password and cannot sign in.", "accounts.txt"),
    Line("Do you have an office in Chicago?", "unanswerable"),
    _a("How do I turn on two factor authentication?", "accounts.txt"),
    _a("How do I pair the streaming box with my television?", "tv.md"),
    Line("Good morning!", "small_talk"),
    _a("How much is the sports package?", "tv.md"),
    _a("Where should I put the router in my house?", "router.md"),
    Line("Can I pay for my groceries with your app?", "unanswerable"),
    _a("Can my partner call you about my account?", "accounts.txt"),
    Line("Have a nice weekend, goodbye.", "small_talk"),
    Line("Who won the election last year?", "unanswerable"),
]
# The human agent's lines, said after every AGENT_EVERY customer lines (never a suggestion).
AGENT: list[str] = [
    "Sure, let me check that for you.",
    "One moment please, I am looking it up.",
    "I can help you with that.",
    "Let me see what I can find.",
]
AGENT_EVERY = 4
