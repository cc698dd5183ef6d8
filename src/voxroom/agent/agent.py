"""The public `Agent` class: subclass it, set instructions, override small hooks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from voxroom.agent.context import HISTORY_MESSAGES, ToolExample, UserTurn
from voxroom.agent.policy import PolicyName
from voxroom.transport.base import ParticipantInfo

if TYPE_CHECKING:
    from voxroom.agent.session import AgentSession

# Few-shot pairs for base models: a greeting, questions answered in a word or two (the answer
# is spoken once written: a sentence around it took the first sentence from 499 to 806 ms
# p50 in `bench answers`, for no more right answers), a remark and a how-to. None of their
# facts is asked in `bench answers`.
DEFAULT_EXAMPLES: list[tuple[str, str]] = [
    ("Hi, who are you?", "I'm a voice assistant running right here on this computer."),
    ("What is the capital of Italy?", "Rome."),
    ("How many fingers are on one hand?", "Five."),
    ("What is the largest continent?", "Asia."),
    ("What color is coal?", "Black."),
    ("Who painted the Sunflowers?", "Vincent van Gogh."),
    ("I'm going to the beach tomorrow.", "Have fun, and don't forget your sunscreen!"),
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
    - `greeting`: said when the first person joins (None: wait for the user).
    - `turn_policy`: when to answer in a call (`agent.policy`): None → "always" with one
      participant, "addressed" in a room (a room's creator may set it too).
    - `wake_phrases`: besides `name`, what addresses the agent in a room ("hey assistant").
    """

    name: ClassVar[str] = "voxroom assistant"
    instructions: ClassVar[str] = (
        "The following is a conversation with a friendly, well-read voice assistant. "
        "The assistant gives the right answer in a few words, and chats in one short sentence."
    )
    examples: ClassVar[list[tuple[str, str]]] = DEFAULT_EXAMPLES
    greeting: ClassVar[str | None] = None
    # Few-shot tool use for base models: (user says, tool, arguments, tool result, agent says).
    tool_examples: ClassVar[list[ToolExample]] = []
    max_tool_steps: ClassVar[int] = 3  # tool round trips per turn before the model must answer
    # Messages of the conversation so far shown with each turn (tool calls and results count):
    # a base model copies what it sees of its own replies; a chat model can be shown more.
    history_messages: ClassVar[int] = HISTORY_MESSAGES
    temperature: ClassVar[float | None] = None  # None: the configured default
    turn_policy: ClassVar[PolicyName | None] = None
    wake_phrases: ClassVar[tuple[str, ...]] = ()
    # In a room: publish the agent's video and receive people's cameras (peer to peer, video
    # follows the client's offer).
    uses_video: ClassVar[bool] = False
    # Who receives the session's captions and state, by role in the call (None: everyone);
    # e.g. ("agent",) for a copilot whose transcript is for the human agent only.
    captions_to: ClassVar[tuple[str, ...] | None] = None
    # Have the recognizer also translate every voice turn into English in the same pass
    # (`turn.english`; Whisper decodes it from the audio it already encoded): a translator.
    english_transcripts: ClassVar[bool] = False

    session: AgentSession

    async def on_enter(self) -> None:
        """The session started and the first participant is in the call."""
        if self.greeting:
            await self.session.say(self.greeting)

    async def on_participant_joined(self, participant: ParticipantInfo) -> None:
        """Someone joined the call (the first one right after `on_enter`)."""

    async def on_participant_left(self, participant: ParticipantInfo) -> None:
        """Someone left the call."""

    async def on_user_turn(self, turn: UserTurn) -> None:
        """Someone finished a turn (`turn.speaker`); rewrite `turn.text`, call
        `turn.add_context(...)`, or set `turn.respond` (the room's policy decided it)."""

    async def on_app_message(self, sender: ParticipantInfo | None, message: dict[str, Any]) -> bool:
        """A client message of a type the protocol does not define (an app's own, e.g. a
        copilot's "ask"); return True if handled (else the client is told it is unknown).
        `sender`: who sent it (None: not, or no longer, in the call)."""
        return False

    async def on_exit(self) -> None:
        """The session is ending."""
