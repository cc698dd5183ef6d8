"""The public `Agent` class: subclass it, set instructions, override small hooks."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from voxroom.agent.context import ToolExample, UserTurn

if TYPE_CHECKING:
    from voxroom.agent.session import AgentSession

DEFAULT_EXAMPLES: list[tuple[str, str]] = [
    ("Hi, who are you?", "I'm a voice assistant running right here on this computer."),
    ("What is the capital of Italy?", "The capital of Italy is Rome."),
    (
        "How do I boil an egg?",
        "Put the egg in boiling water for about eight minutes, then cool it.",
    ),
    ("Tell me a fun fact.", "Octopuses have three hearts and blue blood."),
]


class Agent:
    """A voice agent. Everything has a working default; override what you need.

    - `instructions`: who the agent is (the first lines of every prompt).
    - `examples`: few-shot (user, agent) pairs; base models such as the packaged Gemma need
      them to answer briefly and in character. Instruction-tuned models can do with fewer.
    - `greeting`: said when a session starts (None: wait for the user).
    """

    name: ClassVar[str] = "voxroom assistant"
    instructions: ClassVar[str] = (
        "The following is a conversation with a friendly voice assistant. "
        "The assistant answers in one or two short, complete sentences."
    )
    examples: ClassVar[list[tuple[str, str]]] = DEFAULT_EXAMPLES
    greeting: ClassVar[str | None] = None
    # Few-shot tool use for base models: (user says, tool, arguments, tool result, agent says).
    tool_examples: ClassVar[list[ToolExample]] = []
    max_tool_steps: ClassVar[int] = 3  # tool round trips per turn before the model must answer
    temperature: ClassVar[float | None] = None  # None: the configured default

    session: AgentSession

    async def on_enter(self) -> None:
        """The session started and the client is connected."""
        if self.greeting:
            await self.session.say(self.greeting)

    async def on_user_turn(self, turn: UserTurn) -> None:
        """The user finished a turn; rewrite `turn.text` or call `turn.add_context(...)`."""

    async def on_exit(self) -> None:
        """The session is ending."""
