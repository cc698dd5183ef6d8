"""The load-client worker of `voxroom bench soak`: a child process running session
lifecycles back to back in a few slots until its time is up, each a scenario drawn by weight
(see bench/soak.py), and reporting on stdout as JSON lines every session it starts, how many
it holds and how each scenario went."""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import time
from pathlib import Path
from typing import Any

from voxroom.bench.load import LoadClient, abandoned_offer, fetch_token
from voxroom.bench.workers import CommandChannel

SCENARIOS = {"chat": 30, "speak": 12, "idle": 18, "vanish": 25, "abandon": 15}
CLEAN_SCENARIOS = {"chat": 2, "speak": 1, "idle": 1}  # the warm-up: everything DELETEs
CHATS = [
    "Hi, who are you?",
    "What is the capital of Italy?",
    "Tell me a fun fact.",
    "How do I boil an egg?",
    "What color is the sky?",
]
REPLY_TIMEOUT_S = 60.0


def _agent_final(message: dict[str, Any]) -> bool:
    return (
        message.get("type") == "transcript" and message.get("role") == "agent" and message["final"]
    )


def _user_final(message: dict[str, Any]) -> bool:
    return (
        message.get("type") == "transcript" and message.get("role") == "user" and message["final"]
    )


class SoakWorker:
    def __init__(self, url: str, seed: int, speech: list[Path]) -> None:
        self.url = url
        self.rng = random.Random(seed)
        self.speech = speech
        self.live = 0
        self.token = ""

    def _started(self, scenario: str) -> None:
        self.live += 1
        CommandChannel.reply({"event": "started", "scenario": scenario, "live": self.live})

    def _ended(self) -> None:
        self.live -= 1
        CommandChannel.reply({"event": "live", "live": self.live})

    async def _connected(self, scenario: str) -> LoadClient:
        client = LoadClient(self.url)
        try:
            await client.connect(self.token)
        except BaseException:
            await client.vanish()
            raise
        self._started(scenario)
        return client

    async def _chat(self, client: LoadClient, text: str) -> None:
        after = time.monotonic()
        client.send({"type": "chat", "text": text})
        await client.wait_for(_agent_final, REPLY_TIMEOUT_S, after=after)

    async def run_scenario(self, scenario: str) -> None:
        rng = self.rng
        if scenario == "abandon":
            status = await abandoned_offer(self.url, self.token, hold_s=rng.uniform(0.0, 3.0))
            if status != 201:
                raise RuntimeError(f"offer refused: {status}")
            self._started(scenario)
            self._ended()  # gone from our side: the server has to notice by itself
            return
        client = await self._connected(scenario)
        try:
            if scenario == "chat":
                for _ in range(rng.choice((1, 1, 2))):
                    await self._chat(client, rng.choice(CHATS))
                await asyncio.sleep(rng.uniform(0.0, 1.0))
            elif scenario == "speak":
                from voxroom.media.audio import read_wav

                samples, rate = read_wav(rng.choice(self.speech))
                client.pause_noise()
                await asyncio.sleep(0.3)
                after = time.monotonic()
                await client.speak(samples, rate)
                await client.wait_for(_user_final, REPLY_TIMEOUT_S, after=after)
                await client.wait_for(_agent_final, REPLY_TIMEOUT_S, after=after)
            elif scenario == "idle":
                await asyncio.sleep(rng.uniform(2.0, 8.0))
            elif scenario == "vanish":
                if rng.random() < 0.6:  # leave while the agent thinks or speaks
                    client.send({"type": "chat", "text": rng.choice(CHATS)})
                    await asyncio.sleep(rng.uniform(0.2, 3.0))
                else:
                    await asyncio.sleep(rng.uniform(0.5, 4.0))
                await client.vanish()
                return
            await client.close()  # with its DELETE
        except BaseException:
            await client.vanish()
            raise
        finally:
            self._ended()

    async def slot(self, deadline: float, weights: dict[str, int]) -> None:
        names, shares = list(weights), list(weights.values())
        while time.monotonic() < deadline:
            scenario = self.rng.choices(names, shares)[0]
            if scenario == "speak" and not self.speech:
                scenario = "chat"
            started = time.monotonic()
            error = None
            try:
                await self.run_scenario(scenario)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
                await asyncio.sleep(1.0)  # no tight loop of failures
            CommandChannel.reply(
                {
                    "event": "result",
                    "scenario": scenario,
                    "ok": error is None,
                    "error": error,
                    "seconds": round(time.monotonic() - started, 2),
                }
            )
            await asyncio.sleep(self.rng.uniform(0.0, 0.5))


async def _worker(args: argparse.Namespace) -> None:
    from voxroom.transport.webrtc import tuning

    tuning.apply(jitter_prefetch=0, host_addresses=["127.0.0.1"])
    weights = CLEAN_SCENARIOS if args.clean else SCENARIOS
    if args.scenarios:
        weights = {name: weights[name] for name in args.scenarios.split(",")}
    worker = SoakWorker(args.worker, args.seed, [Path(p) for p in args.speech])
    worker.token = await fetch_token(args.worker)  # one per worker, as a real app would
    deadline = time.monotonic() + args.seconds
    await asyncio.gather(*(worker.slot(deadline, weights) for _ in range(args.slots)))
    CommandChannel.reply({"event": "done"})


def _main() -> None:
    parser = argparse.ArgumentParser(description="voxroom bench soak load worker")
    parser.add_argument("--worker", metavar="URL", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--slots", type=int, default=3)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--clean", action="store_true", help="only scenarios that DELETE")
    parser.add_argument("--speech", nargs="*", default=[])
    parser.add_argument("--scenarios", default="", help="comma-separated subset")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(_worker(args))


if __name__ == "__main__":
    _main()
