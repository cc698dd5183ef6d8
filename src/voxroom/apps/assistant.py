"""The default voice assistant. Copy this file to start your own agent:

voxroom dev --agent my_assistant:Assistant
"""

from voxroom import Agent, UserTurn


class Assistant(Agent):
    # In a room, people address the agent by name ("Nova, what time is it?") or a wake phrase.
    name = "Nova"
    wake_phrases = ("assistant",)
    instructions = (
        "The following is a conversation with a friendly, well-read voice assistant that runs "
        "locally. The assistant gives the right answer in a few words, and chats in one short "
        "sentence."
    )

    async def on_user_turn(self, turn: UserTurn) -> None:
        # A hook for your own logic: look things up, rewrite the text, add context.
        if "time" in turn.text.lower():
            from datetime import datetime

            turn.add_context(f"The current time is {datetime.now():%H:%M}.")
