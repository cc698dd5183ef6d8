"""agent/endpointing.py: what sounds finished, and what is only a backchannel."""

from __future__ import annotations

import pytest

from voxroom.agent.endpointing import BackchannelFilter, SemanticEndpointing


@pytest.mark.parametrize(
    ("text", "complete"),
    [
        ("What is the capital of France?", True),
        ("I would like to book a table and", False),
        ("Let me think...", False),
        ("The capital of", False),
        ("Stop.", True),
        # a verb still missing its object: a person would wait (issue 17)
        ("I would like.", False),
        ("I'd like.", False),
        ("Can you tell me.", False),
        ("I need.", False),
        ("I want to know.", False),
        ("Could you please give me.", False),
        ("I would like a cup of tea.", True),
        ("Can you tell me the time?", True),
        ("Tell me a joke.", True),
        ("I know.", True),  # a bare "I know" needs nothing more
        ("I see.", True),
        ("I would like to see.", False),
        ("Thank you.", True),
        ("Can you help me?", True),
        ("", False),
    ],
)
def test_looks_complete(text: str, complete: bool) -> None:
    assert SemanticEndpointing().looks_complete(text) is complete


# How Whisper wrote Piper's and espeak-ng's "mm hmm", "uh huh" and "yeah" in `bench turns`
# and in transcriptions of them one by one.
HUMS = [
    "Mm-hmm.",
    "M.M.",
    "M.M.E.R.",
    "MMR.",
    "MMM",
    "mml.",
    "MMO.",
    "M-M-F-M.",
    "MM that.",
    "M.M. Phen",
    "M-M-Them",
    "Remember.",
    "Uh-huh.",
    "uh uh uh uh uh",
    "uh uh uh uh uh uh uh uh",  # Piper's "uh huh", bench turns 2026-12-05 16:50
    "M.A.M.FM.",  # a spelled hum ending on a two-letter guess, bench turns 2026-12-05
    "Amen now.",  # Piper's "mm hmm" with a guessed word, bench turns 2026-12-05 19:24
    "M.A.M. them.",  # espeak-ng's "mm hmm", bench turns 2026-12-05 20:08
    "Remember that.",
    "M.M.M. Hm.",
    "Aha.",
    "ha ha ha ha ha ha ha ha ha ha",  # Piper's "uh huh", bench turns 2026-12-06 02:20
    "Haha!",  # a listener laughing along is not asking for the floor either
    "Heh.",
    "",
]


@pytest.mark.parametrize("heard", HUMS)
def test_hums_and_acknowledgements_are_backchannels(heard: str) -> None:
    assert BackchannelFilter().is_backchannel(heard, avg_logprob=-0.7)


@pytest.mark.parametrize(
    ("heard", "avg_logprob"),
    [
        ("Stop!", -0.9),  # an interrupting word, however unsure
        ("No, Paris.", -0.5),
        ("Hmm, no.", -0.9),
        ("Tell me more about that.", -0.4),
        ("Berlin.", -0.3),  # one word it is sure of
        ("A B C D E F G.", -0.2),  # longer than a hum
        ("A.M. or P.M.?", -0.3),  # letters, but not a hum's
        ("Remember the milk.", -0.3),  # a hum's rendering and two words: words
        ("Amen, stop.", -0.9),
        ("M.A. in history.", -0.3),
    ],
)
def test_words_are_not_backchannels(heard: str, avg_logprob: float) -> None:
    assert not BackchannelFilter().is_backchannel(heard, avg_logprob)


@pytest.mark.parametrize("heard", ["Emenda.", "and remember."])
def test_one_or_two_unsure_words_are_a_hum(heard: str) -> None:
    assert BackchannelFilter().is_backchannel(heard, avg_logprob=-0.95)
    assert not BackchannelFilter().is_backchannel(heard, avg_logprob=-0.5)
    assert not BackchannelFilter().is_backchannel(f"{heard} Stop!", avg_logprob=-0.95)


@pytest.mark.parametrize(
    ("text", "complete"),
    [
        ("Nova.", False),  # only calling the agent: the question follows the pause
        ("Nova,", False),
        ("Hey, Nova.", False),
        ("Hi Nova.", False),
        ("Nova?", True),  # "are you there?" deserves an answer
        ("Nova, what time is it?", True),
        ("Thanks, Nova.", True),
        ("Nova is a nice name.", True),
    ],
)
def test_calling_the_agent_by_name_alone_is_unfinished(text: str, complete: bool) -> None:
    assert SemanticEndpointing(names=("Nova",)).looks_complete(text) is complete
