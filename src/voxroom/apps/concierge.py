"""A hotel concierge with tools and retrieval.

Run: `voxroom dev --agent voxroom.apps.concierge:Concierge`.

Shows `@function_tool` (the schema comes from the type hints and docstring), a tool with side
effects (the engine books only when the guest's words ask for a taxi and say where and when),
few-shot tool examples for small local models, and per-turn context injection (RAG) in
`on_user_turn`.
"""

from voxroom import Agent, ToolExample, UserTurn, function_tool

FACTS = {
    ("breakfast",): "Breakfast is served from 7 to 10 am in the garden room.",
    ("pool",): "The pool is open from 8 am to 9 pm on the roof.",
    ("checkout", "check out"): "Checkout is at 11 am; late checkout until 1 pm costs 20 euros.",
    ("wifi", "internet"): "The wifi network is Harbor-Guest, password seashell.",
}


class Concierge(Agent):
    name = "hotel concierge"
    instructions = (
        "The following is a conversation with the concierge of the Harbor Hotel. "
        "The concierge answers guests in one short sentence and books taxis with a tool."
    )
    examples = [
        ("Hello!", "Good evening, how can I help you?"),
        ("When does the pool open?", "The pool is open from 8 am to 9 pm on the roof."),
    ]
    tool_examples = [
        ToolExample(
            user="Please get me a taxi to the station at 6 pm.",
            tool="book_taxi",
            arguments={"time": "6 pm", "destination": "the station"},
            result="Taxi booked for 6 pm to the station, confirmation T-100.",
            answer="Your taxi to the station is booked for 6 pm.",
        ),
        ToolExample(
            user="I need a cab to the beach at noon.",
            tool="book_taxi",
            arguments={"time": "noon", "destination": "the beach"},
            result="Taxi booked for noon to the beach, confirmation T-109.",
            answer="Your taxi to the beach is booked for noon.",
        ),
        ToolExample(
            user="Could you call a taxi to the museum for 9 am?",
            tool="book_taxi",
            arguments={"time": "9 am", "destination": "the museum"},
            result="Taxi booked for 9 am to the museum, confirmation T-110.",
            answer="Done, a taxi will take you to the museum at 9 am.",
        ),
    ]

    @function_tool(side_effects=True, asked_by=("taxi", "cab"))
    async def book_taxi(self, time: str, destination: str) -> str:
        """Book a taxi for the guest.

        Args:
            time: when the taxi should come, e.g. "5 pm"
            destination: where the guest wants to go
        """
        return f"Taxi booked for {time} to {destination}, confirmation T-{len(destination) + 100}."

    async def on_user_turn(self, turn: UserTurn) -> None:
        # Retrieval, kept trivial here: facts whose key words the guest mentioned.
        said = turn.text.lower()
        for keys, fact in FACTS.items():
            if any(key in said for key in keys):
                turn.add_context(fact)
