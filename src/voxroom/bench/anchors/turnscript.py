"""The turn script every framework in `bench overhead` runs, and the probe that times it.

Standard library and numpy only: the anchor scripts import this file from their own virtual
environments, where voxroom is not installed.

One turn: `speech_s` of a loud tone, then silence, fed in real time in `frame_ms` frames at
16 kHz. The fake VAD of every framework calls a frame voiced when its RMS is above
`voiced_rms`; the fake STT has the final transcript ready `stt_final_after_ms` into the
silence (before any framework decides the turn is over); the fake LLM streams `reply` word by
word without waiting; the fake TTS returns one `tts_chunk_s` chunk per text it is given.

Measured per turn: the framework's own end-of-turn decision → the first non-silent audio frame
its output writes. Silence keeps flowing while the framework works, as it would on a call.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

INSTRUCTIONS = "Be brief."


@dataclass(frozen=True, slots=True)
class TurnScript:
    turns: int = 30
    warmup: int = 2  # turns run first and not counted (first-call costs, lazy imports)
    frame_ms: int = 20
    in_rate: int = 16000
    lead_s: float = 0.5  # silence before the first turn
    speech_s: float = 0.8
    settle_s: float = 0.5  # silence after the reply's first audio, before the next turn
    timeout_s: float = 8.0  # a turn with no reply by then counts as missed
    speech_amplitude: int = 8000
    voiced_rms: float = 500.0
    stt_final_after_ms: int = 160
    transcript: str = "What is the capital of France?"
    reply: str = "The capital of France is Paris. It is known for the Eiffel Tower."
    instructions: str = INSTRUCTIONS
    tts_rate: int = 24000
    tts_chunk_s: float = 0.1

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> TurnScript:
        return cls(**json.loads(text))

    @property
    def frame_samples(self) -> int:
        return self.in_rate * self.frame_ms // 1000

    def speech_frame(self) -> np.ndarray:
        """One frame of 'speech': a 200 Hz tone with two harmonics (whole cycles, so every
        frame is the same and joins the next without a click)."""
        t = np.arange(self.frame_samples) / self.in_rate
        wave = sum(np.sin(2 * np.pi * 200 * k * t) / k for k in (1, 2, 3))
        wave = wave / np.max(np.abs(wave))
        samples: np.ndarray = (self.speech_amplitude * wave).astype(np.int16)
        return samples

    def silence_frame(self) -> np.ndarray:
        return np.zeros(self.frame_samples, dtype=np.int16)

    def tts_chunk(self) -> np.ndarray:
        t = np.arange(round(self.tts_chunk_s * self.tts_rate)) / self.tts_rate
        return (3000 * np.sin(2 * np.pi * 300 * t) + 1).astype(np.int16)

    def reply_tokens(self) -> list[str]:
        """The reply as an LLM streams it: one word (with its trailing space) per delta."""
        return re.findall(r"\S+\s*", self.reply)

    def is_voiced(self, samples: np.ndarray) -> bool:
        if samples.size == 0:
            return False
        rms = math.sqrt(float(np.mean(np.square(samples, dtype=np.float64))))
        return rms > self.voiced_rms


def has_sound(samples: np.ndarray | bytes) -> bool:
    """Any non-zero sample (output frames: TTS audio, as opposed to filler silence)."""
    if isinstance(samples, bytes | bytearray | memoryview):
        samples = np.frombuffer(samples, dtype=np.int16)
    return bool(np.any(samples))


@dataclass(slots=True)
class TurnRecord:
    speech_end: float | None = None  # perf_counter when the first silent frame went in
    decided: float | None = None  # the framework decided the user's turn is over
    first_audio: float | None = None  # its output wrote the reply's first audio
    audio_before_decision: bool = False

    def as_dict(self) -> dict[str, Any]:
        def ms(start: float | None, end: float | None) -> float | None:
            return None if start is None or end is None else round((end - start) * 1e3, 3)

        return {
            "overhead_ms": ms(self.decided, self.first_audio),
            "decided_after_speech_ms": ms(self.speech_end, self.decided),
            "audio_before_decision": self.audio_before_decision,
        }


@dataclass(slots=True)
class TurnProbe:
    """What the framework under test reports: its end-of-turn decision and output writes.

    `decided()` is called from a hook at the framework's own decision point; `written()` from
    the bench's output sink. Both only take a timestamp: nothing here runs between them."""

    current: TurnRecord = field(default_factory=TurnRecord)
    _reply_heard: asyncio.Event | None = None

    def start_turn(self) -> None:
        self.current = TurnRecord()
        self._reply_heard = asyncio.Event()

    def decided(self) -> None:
        record = self.current
        if record.speech_end is not None and record.decided is None:
            record.decided = time.perf_counter()

    def written(self, samples: np.ndarray | bytes) -> None:
        record = self.current
        if record.first_audio is not None or not has_sound(samples):
            return
        if record.decided is None:
            if record.speech_end is not None:
                record.audio_before_decision = True
            return
        record.first_audio = time.perf_counter()
        if self._reply_heard is not None:
            self._reply_heard.set()

    @property
    def replied(self) -> bool:
        return self.current.first_audio is not None


Push = Callable[[np.ndarray], Awaitable[None]]


async def drive_turns(script: TurnScript, probe: TurnProbe, push: Push) -> list[dict[str, Any]]:
    """Feed `warmup + turns` turns in real time through `push`; one record per counted turn."""
    loop = asyncio.get_running_loop()
    frame_s = script.frame_ms / 1000.0
    speech, silence = script.speech_frame(), script.silence_frame()
    started, sent = loop.time(), 0

    async def feed(samples: np.ndarray) -> None:
        nonlocal sent
        sent += 1
        delay = started + sent * frame_s - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await push(samples)

    async def silence_for(seconds: float) -> None:
        for _ in range(round(seconds / frame_s)):
            await feed(silence)

    await silence_for(script.lead_s)
    records: list[dict[str, Any]] = []
    for index in range(script.warmup + script.turns):
        probe.start_turn()
        for _ in range(round(script.speech_s / frame_s)):
            await feed(speech)
        probe.current.speech_end = time.perf_counter()
        deadline = time.perf_counter() + script.timeout_s
        while not probe.replied and time.perf_counter() < deadline:
            await feed(silence)
        await silence_for(script.settle_s)
        if index >= script.warmup:
            records.append(probe.current.as_dict())
    return records


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """p50/p90/mean/min/max of the overhead over the turns that got a reply."""
    values = [r["overhead_ms"] for r in records if r.get("overhead_ms") is not None]
    waits = [r["decided_after_speech_ms"] for r in records if r.get("decided_after_speech_ms")]
    summary: dict[str, Any] = {"turns": len(values), "missed": len(records) - len(values)}
    if values:
        summary |= {
            "p50_ms": round(statistics.median(values), 2),
            "p90_ms": round(quantile(values, 0.9), 2),
            "mean_ms": round(statistics.fmean(values), 2),
            "min_ms": round(min(values), 2),
            "max_ms": round(max(values), 2),
        }
    if waits:
        summary["decided_after_speech_p50_ms"] = round(statistics.median(waits), 1)
    if any(r.get("audio_before_decision") for r in records):
        summary["audio_before_decision"] = True
    return summary


def quantile(values: list[float], fraction: float) -> float:
    """Linear-interpolated quantile (numpy's default method)."""
    return float(np.quantile(np.asarray(values, dtype=np.float64), fraction))
