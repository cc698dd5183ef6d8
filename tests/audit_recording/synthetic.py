"""Scripted audio timelines for recorder tests: a fake session clock, two sides that deliver
chunks with jitter, bursts, gaps and clock drift, marker tones at known session times, and a
matched filter that finds those markers again in the recorded files."""

from __future__ import annotations

import functools
import heapq
import time
import wave
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MARKER_SECONDS = 0.1
MARKER_AMPLITUDE = 12000
NOISE = 30  # background hiss (int16 peak): real input is never digital silence


class FakeClock:
    """Session-clock seconds that the test script sets; the recorder only reads it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Marker:
    time: float  # session-clock seconds of the tone's onset
    freq: float


@dataclass(frozen=True)
class Side:
    """One side's audio as scripted: content, timing of delivery, and its perturbations.

    Content sample i plays at clock `i * scale / rate`: `scale` != 1 is a sender whose clock
    runs fast (< 1) or slow (> 1) against the session clock. A chunk is delivered at its end
    (`stamps_end`, inbound: it has arrived) or its start (outbound: it is being sent), plus
    jitter; chunks due inside a burst arrive together when it ends; those due inside a gap
    never arrive."""

    rate: int
    chunk: int
    stamps_end: bool
    markers: tuple[Marker, ...]
    scale: float = 1.0
    jitter: tuple[float, float] = (0.0, 0.0)
    bursts: tuple[tuple[float, float], ...] = ()  # (start, hold)
    gaps: tuple[tuple[float, float], ...] = ()  # (start, length)
    seed: int = 0
    noise: int = NOISE  # background peak; loud enough and no chunk is ever quiet

    def chunk_span(self, k: int) -> tuple[float, float]:
        seconds = self.chunk * self.scale / self.rate
        return k * seconds, (k + 1) * seconds

    def content(self, k: int, rng: np.random.Generator) -> np.ndarray:
        first = k * self.chunk
        out = rng.integers(-self.noise, self.noise + 1, self.chunk).astype(np.int32)
        for marker in self.markers:
            onset = round(marker.time * self.rate / self.scale)
            tone = tone_burst(marker.freq, self.rate)
            lo, hi = max(first, onset), min(first + self.chunk, onset + tone.size)
            if lo < hi:
                out[lo - first : hi - first] += tone[lo - onset : hi - onset].astype(np.int32)
        return np.clip(out, -32768, 32767).astype(np.int16)

    def deliveries(self, until: float) -> Iterator[tuple[float, int]]:
        """(clock time, chunk index) in delivery order, up to `until`."""
        rng = np.random.default_rng(self.seed)
        last = -1.0
        k = 0
        while True:
            start, end = self.chunk_span(k)
            nominal = end if self.stamps_end else start
            at = self._perturb(nominal, start, rng)
            k += 1
            if at is None:
                continue
            at = max(at, last + 1e-6)  # in order, as an iterator delivers them
            if at > until:
                return
            last = at
            yield at, k - 1

    def _perturb(self, nominal: float, start: float, rng: np.random.Generator) -> float | None:
        if any(g <= start < g + length for g, length in self.gaps):
            return None
        for b, hold in self.bursts:
            if b <= nominal < b + hold:
                return b + hold + float(rng.uniform(0.0, 0.002))
        return nominal + float(rng.uniform(*self.jitter))


def envelope(rate: int) -> np.ndarray:
    """The marker's envelope: 2 ms ramps (no click, still a sharp onset)."""
    t = np.arange(round(MARKER_SECONDS * rate)) / rate
    return np.minimum(1.0, np.minimum(t, t[::-1]) / 0.002)


@functools.cache
def tone_burst(freq: float, rate: int) -> np.ndarray:
    """The marker: a tone burst at `freq`."""
    t = np.arange(round(MARKER_SECONDS * rate)) / rate
    return (MARKER_AMPLITUDE * envelope(rate) * np.sin(2 * np.pi * freq * t)).astype(np.int16)


Observer = Callable[[np.ndarray, int], None]


def play(
    clock: FakeClock,
    sides: Mapping[str, tuple[Side, Observer]],
    until: float,
    since: float = 0.0,
) -> tuple[int, float]:
    """Deliver both sides' chunks due in (since, until] to their observers, in clock order.

    Returns how many calls were made and the seconds spent inside the observers."""
    streams = [_labelled(name, side, since, until) for name, (side, _) in sides.items()]
    noise = {name: np.random.default_rng(side.seed + 1) for name, (side, _) in sides.items()}
    calls, spent = 0, 0.0
    for at, name, k in heapq.merge(*streams):
        side, observer = sides[name]
        samples = side.content(k, noise[name])
        clock.now = at
        started = time.perf_counter()
        observer(samples, side.rate)
        spent += time.perf_counter() - started
        calls += 1
    clock.now = until
    return calls, spent


def _labelled(
    name: str,
    side: Side,
    since: float,
    until: float,
) -> Iterator[tuple[float, str, int]]:
    for at, k in side.deliveries(until):
        if at > since:
            yield at, name, k


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """All frames of a 16-bit WAV as (frames, channels) int16, and the rate."""
    with wave.open(str(path), "rb") as wav:
        assert wav.getsampwidth() == 2
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        return frames.reshape(-1, wav.getnchannels()), wav.getframerate()


def marker_strength(
    track: np.ndarray,
    rate: int,
    marker: Marker,
    search: float = 0.5,
) -> tuple[float, float]:
    """(onset found, matched-filter peak) of `marker` within ±`search` s of its clock time."""
    shape = envelope(rate)  # matched filter: the envelope at the marker's frequency, any phase
    analytic = shape * np.exp(2j * np.pi * marker.freq * np.arange(shape.size) / rate)
    lo = max(0, round((marker.time - search) * rate))
    hi = round((marker.time + search) * rate) + shape.size
    window = track[lo:hi].astype(np.float64)
    response = np.abs(np.correlate(window, analytic, mode="valid"))
    best = int(np.argmax(response))
    return (lo + best) / rate, float(response[best])


def marker_offset(track: np.ndarray, rate: int, marker: Marker) -> float:
    """Seconds between where `marker` is in `track` and its session-clock time."""
    onset, _ = marker_strength(track, rate, marker)
    return onset - marker.time
