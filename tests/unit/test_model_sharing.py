"""Sharing models between sessions: the batch runner, the parallel llama.cpp engine's slot
choice and stop-string handling, and the capacity bench's arithmetic (no models)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Histogram

from voxroom.bench.capacity import (
    Turn,
    _sharing_means,
    cpu_per_turn,
    judge_level,
    talking_sessions,
)
from voxroom.providers.base import ModelRunner
from voxroom.providers.batching import BatchRunner
from voxroom.providers.llm_parallel import Slot, StopText, common_prefix, pick_slot
from voxroom.providers.sharing import MODELS_RUNNING

# --- what runs now (the LLM engine's second thread waits for it) -----------------------------


async def test_model_calls_count_as_running_only_while_they_run() -> None:
    seen: list[int] = []
    runner = ModelRunner("test")
    await runner.run(lambda: seen.append(MODELS_RUNNING.count))
    async for running in runner.iterate(lambda stop: (MODELS_RUNNING.count for _ in range(2))):
        seen.append(running)
    batches = BatchRunner("test-batch", lambda rs: [MODELS_RUNNING.count for _ in rs], max_batch=4)
    seen.append(await batches.run("a"))
    assert seen == [1, 1, 1, 1] and MODELS_RUNNING.count == 0


# --- BatchRunner -----------------------------------------------------------------------------


class _Model:
    """A blocking 'model' that records the batches it was given; the first call waits for
    `release` so that the next requests queue behind it."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = threading.Event()

    def __call__(self, requests: Sequence[str]) -> list[str | BaseException]:
        if not self.batches:
            self.release.wait(5)
        self.batches.append(list(requests))
        return [ValueError(r) if r.startswith("bad") else r.upper() for r in requests]


def _sizes() -> Histogram:
    return Histogram("sizes", "test", buckets=(1, 2, 4, 8), registry=CollectorRegistry())


async def test_requests_queued_while_the_model_is_busy_run_as_one_batch() -> None:
    model, sizes = _Model(), _sizes()
    runner = BatchRunner("t", model, max_batch=8, sizes=sizes)
    first = asyncio.ensure_future(runner.run("a"))
    await asyncio.sleep(0.05)  # "a" runs alone at once: nothing waits to fill a batch
    rest = [asyncio.ensure_future(runner.run(x)) for x in ("b", "c", "d")]
    await asyncio.sleep(0.01)
    assert runner.in_flight == 4
    model.release.set()
    assert await first == "A"
    assert await asyncio.gather(*rest) == ["B", "C", "D"]
    assert model.batches == [["a"], ["b", "c", "d"]]
    samples = {s.name: s.value for metric in sizes.collect() for s in metric.samples}
    assert (samples["sizes_count"], samples["sizes_sum"]) == (2, 4)  # two calls, 4 requests
    assert runner.in_flight == 0
    runner.shutdown()


async def test_batches_keep_to_their_key_and_size_and_drop_cancelled_requests() -> None:
    model = _Model()
    runner: BatchRunner[str, str] = BatchRunner("t", model, max_batch=2, key=lambda r: r[0])
    first = asyncio.ensure_future(runner.run("x0"))
    await asyncio.sleep(0.05)
    waiting = {r: asyncio.ensure_future(runner.run(r)) for r in ("a1", "b1", "a2", "a3", "a4")}
    await asyncio.sleep(0.01)
    waiting["a3"].cancel()  # a speculative request the user talked over
    model.release.set()
    await first
    done = await asyncio.gather(*(t for r, t in waiting.items() if r != "a3"))
    assert done == ["A1", "B1", "A2", "A4"]
    assert model.batches == [["x0"], ["a1", "a2"], ["b1"], ["a4"]]
    runner.shutdown()


async def test_one_failing_request_fails_alone() -> None:
    model = _Model()
    model.release.set()
    runner = BatchRunner("t", model, max_batch=4)
    ok, bad = await asyncio.gather(runner.run("ok"), runner.run("bad"), return_exceptions=True)
    assert ok == "OK"
    assert isinstance(bad, ValueError)
    runner.shutdown()


# --- parallel llama.cpp: slots and stop strings ---------------------------------------------


def test_a_prompt_goes_to_the_idle_slot_holding_most_of_it() -> None:
    shared = [1, 2, 3, 4]  # the few-shot instructions every session's prompt starts with
    mine = Slot(0, [*shared, 10, 11, 12], last_used=5.0)
    other = Slot(1, [*shared, 20, 21], last_used=1.0)
    fresh = Slot(2, [], last_used=0.0)
    assert pick_slot([mine, other, fresh], [*shared, 10, 11, 12, 13, 14]) == (mine, 7)
    mine.job = object()  # type: ignore[assignment]  # busy: the next best prefix, then LRU
    assert pick_slot([mine, other, fresh], [*shared, 30]) == (other, 4)
    other.job = fresh.job = object()  # type: ignore[assignment]
    assert pick_slot([mine, other, fresh], [1]) is None


def test_least_recently_used_slot_among_equal_prefixes() -> None:
    a, b = Slot(0, [1, 2], last_used=9.0), Slot(1, [1, 2], last_used=3.0)
    assert pick_slot([a, b], [1, 2, 5])[0] is b  # type: ignore[index]
    assert common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2


def test_stop_strings_cut_the_text_and_partial_matches_are_held_back() -> None:
    text = StopText(["\nUser:"])
    assert text.push(b" Paris") == " Paris"
    assert text.push(b".\n") == "."  # "\n" may start the stop string: held
    assert text.push(b"Us") == ""
    assert text.push(b"er: next") == ""
    assert text.stopped


def test_held_text_that_was_no_stop_comes_out() -> None:
    text = StopText(["\nUser:"])
    assert text.push(b"a\n") == "a"
    assert text.push(b"b") == "\nb"
    assert not text.stopped
    assert text.push(b"\nU") == ""
    assert text.flush() == "\nU"


def test_a_character_split_across_tokens_waits_for_its_bytes() -> None:
    text = StopText([])
    euro = "€".encode()
    assert text.push(euro[:1]) == ""
    assert text.push(euro[1:] + b"5") == "€5"


# --- bench capacity arithmetic ---------------------------------------------------------------


def _turns(*v2v: float | None) -> list[Turn]:
    return [Turn(i, float(i), v) for i, v in enumerate(v2v)]


SHARING = {"stt_batch_size": {"mean": 1.0, "count": 3}, "llm_parallel": {"mean": 2.5, "count": 9}}


def test_a_level_holds_when_p90_is_within_1_5_s_and_all_were_answered() -> None:
    level = judge_level(2, _turns(900, 1000, 1100, 1200, 1400), SHARING)
    assert level["holds"]
    assert level["voice_to_voice_ms"] == {"p50": 1100, "p90": 1400}
    assert not judge_level(2, _turns(900, 1000, 1100, 1200, 1600), SHARING)["holds"]
    unanswered = judge_level(2, _turns(900, 1000, None), SHARING)
    assert not unanswered["holds"]
    assert unanswered["unanswered"] == 1
    assert not judge_level(2, [], SHARING)["holds"]


def test_talking_sessions_is_the_last_level_held_before_the_first_failure() -> None:
    levels = [
        judge_level(n, _turns(*v), SHARING)
        for n, v in ((1, [900]), (2, [1000]), (3, [2000]), (4, [1000]))
    ]
    best = talking_sessions(levels)
    assert best is not None and best["sessions"] == 2
    assert talking_sessions(levels[2:3]) is None


def test_sharing_means_come_from_the_window_only() -> None:
    before = {"voxroom_stt_batch_size": (10.0, 10.0), "voxroom_llm_parallel": (5.0, 5.0)}
    after = {"voxroom_stt_batch_size": (16.0, 13.0), "voxroom_llm_parallel": (45.0, 25.0)}
    means = _sharing_means(before, after)
    assert means["stt_batch_size"]["mean"] == 2.0
    assert means["llm_parallel"]["mean"] == 2.0
    assert _sharing_means(after, after)["llm_parallel"]["mean"] is None


def test_cpu_per_turn_divides_the_windows_cpu_by_its_questions() -> None:
    # Two sessions: one asked at 0, 8 and 18 s, the other at 3 and 12 s.
    turns = [Turn(0, 0.0, 900), Turn(1, 3.0, 900), Turn(0, 8.0, 900), Turn(1, 12.0, 900),
             Turn(0, 18.0, 900)]  # fmt: skip
    level = {"server_cpu_pct": 50.0, "client_cpu_pct": 10.0, "window_s": 20.0}
    figures = cpu_per_turn(level, turns)
    assert figures["server_cpu_s_per_turn"] == 2.0  # 0.5 core × 20 s / 5 questions
    assert figures["client_cpu_s_per_turn"] == 0.4
    assert figures["turn_interval_s"] == 9.0  # gaps 8, 10 and 9 s: the median
    assert cpu_per_turn(level, [])["server_cpu_s_per_turn"] is None
