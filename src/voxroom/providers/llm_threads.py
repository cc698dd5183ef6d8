"""How many threads the llama.cpp engine's next decode step gets.

A second thread nearly halves a lone reply's time on an idle machine (the packaged Gemma on
2 cores: first token 127 → 65 ms, 44 → 24 ms a token; issue 17). But llama.cpp's threads
wait for each other at every step, so when another thread holds a core, two threads stall
each other: 0.6–0.7 tokens/s against 3.8–5.2 with one, measured on a busy machine; and in
`bench capacity` with two threads, three calls' first tokens took up to 2.8 s (their audio
keeps the event loop busy). So the engine takes its second thread only while nothing else
in the process computes: one call, the agent not speaking (then the rest of its reply is in
no hurry, and the event loop paces its audio and listens for barge-in), no Whisper, Piper or
embedding call running, one reply generating (several replies batch into one step, and then
the other core is the other sessions' speech models'). It also watches
its own steps for contention from outside the process (other workers, other programs):
when a step with all threads is much slower than the fastest such step, several times in
a row, it keeps to one thread for a while, then tries again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

SLOW = 1.6  # a step this many times the fastest seen with all threads: contended
STRIKES = 3  # contended steps in a row that send the engine back to one thread
HOLD_S = 10.0  # how long it keeps to one thread then


class ThreadChoice:
    def __init__(
        self,
        most: int,
        others_running: Callable[[], int],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.most = most
        self._others_running = others_running
        self._clock = clock
        self._fastest: float | None = None  # a one-token step with all threads, seconds
        self._strikes = 0
        self._one_until = 0.0

    def threads(self, generations: int) -> int:
        """Threads for a step advancing `generations` replies."""
        if self.most == 1 or generations > 1 or self._others_running() > 0:
            return 1
        return 1 if self._clock() < self._one_until else self.most

    def observe(self, threads: int, tokens: int, seconds: float) -> None:
        """A step's duration; only one-token steps with all threads are compared."""
        if threads != self.most or tokens != 1 or self.most == 1:
            return
        if self._fastest is None or seconds < self._fastest:
            self._fastest = seconds
        if seconds <= SLOW * self._fastest:
            self._strikes = 0
            return
        self._strikes += 1
        if self._strikes >= STRIKES:
            self._strikes = 0
            self._one_until = self._clock() + HOLD_S
