"""bench/turns.py's bookkeeping: unanswered turns, and a stuck trial that does not end the run."""

from __future__ import annotations

import asyncio
from typing import Any

from voxroom.bench.turns import EvalRun, TurnEval, summarize, unanswered_turns


def user(turn_id: int, text: str) -> dict[str, Any]:
    return {"type": "transcript", "role": "user", "final": True, "turn_id": turn_id, "text": text}


def agent(turn_id: int, text: str, final: bool = False) -> dict[str, Any]:
    return {"type": "transcript", "role": "agent", "final": final, "turn_id": turn_id, "text": text}


def test_a_turn_answered_in_time_counts_as_answered() -> None:
    messages = [(1.0, user(1, "Hi.")), (2.0, agent(1, "Hello."))]
    assert unanswered_turns(messages) == (1, [])


def test_a_turn_whose_reply_never_played_is_unanswered() -> None:
    # The issue-13 timeline: the reply was generated, then the session ended in silence.
    messages = [
        (5.3, user(2, "Wait.")),
        (7.5, user(2, "Wait, stop. I have a different question.")),
        (97.0, agent(2, "", final=True)),
    ]
    turns, missing = unanswered_turns(messages)
    assert turns == 1
    assert missing == [{"turn_id": 2, "text": "Wait, stop. I have a different question."}]


def test_an_answer_later_than_the_limit_does_not_count() -> None:
    messages = [(1.0, user(1, "Hi.")), (12.5, agent(1, "Hello."))]
    assert unanswered_turns(messages, within_s=10.0)[1] == [{"turn_id": 1, "text": "Hi."}]


def test_a_merged_turn_counts_from_its_last_final_caption() -> None:
    messages = [
        (1.0, user(1, "Wait.")),
        (9.0, user(1, "Wait, stop, I have a question.")),
        (15.0, agent(1, "Go ahead.")),
    ]
    assert unanswered_turns(messages) == (1, [])


class StubClient:
    """What TurnEval needs of a client, without a server."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.messages: list[tuple[float, dict[str, Any]]] = [(1.0, user(1, "Hi."))]
        self.closed = False

    async def close(self) -> None:
        self.closed = True


async def test_a_stuck_trial_is_recorded_as_failed_and_the_run_goes_on() -> None:
    first, second = StubClient("sess-a"), StubClient("sess-b")
    evaluation = TurnEval(first, speech=None)  # type: ignore[arg-type]

    async def fresh() -> None:
        evaluation._account(evaluation.client)
        evaluation.client = second  # type: ignore[assignment]

    evaluation._fresh_session = fresh  # type: ignore[method-assign]

    async def stuck() -> dict[str, Any]:
        raise TimeoutError("no matching message within 90 s")

    async def fine() -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"kind": "complete", "voice": "espeak", "eot_delay_ms": 300.0}

    await evaluation.trial("barge_in", "piper", stuck)
    await evaluation.trial("complete", "espeak", fine)
    await evaluation.close()
    report = summarize(evaluation.run)

    assert report["failed_trials"] == 1
    (failure,) = report["failures"]
    assert failure["session_id"] == "sess-a" and "TimeoutError" in failure["reason"]
    assert report["results"][0]["session_id"] == "sess-b"
    assert report["session_ids"] == ["sess-a", "sess-b"]
    assert report["no_reply_rate"] == 1.0  # neither stub session's "Hi." was answered
    assert second.closed


def test_summary_of_an_empty_run() -> None:
    report = summarize(EvalRun())
    assert report["no_reply_rate"] == 0.0 and report["failed_trials"] == 0
