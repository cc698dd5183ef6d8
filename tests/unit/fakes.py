"""In-memory fakes for the provider and transport ABCs (real models are tested elsewhere)."""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

import numpy as np

from voxroom.agent.agent import Agent
from voxroom.providers.base import (
    LLM,
    STT,
    TTS,
    VAD,
    LLMRequest,
    ProviderError,
    SpeechAudio,
    Transcript,
    VADStream,
)
from voxroom.providers.factory import ModelSet
from voxroom.transport.base import AudioSink, Marker, ParticipantInfo
from voxroom.transport.memory import MemoryParticipant, MemoryTransport

BLOCK = 512  # VAD block at 16 kHz = 32 ms


# The scripted-VAD timeline the session and listener tests state (see test_turns): speech
# starts after 5 blocks, the pause after 5 silent blocks, end of turn after 16 silent blocks;
# no interim captions unless a test asks for them.
SPEECH, QUIET = 0.9, 0.0
TIMELINE = {
    "onset_ms": 32,
    "min_speech_ms": 160,
    "speculative_stt_after_ms": 160,
    "end_of_turn_silence_ms": 500,
    "interim_interval_ms": 0,
    "interim_after_ms": 0,
}


def block(index: int) -> np.ndarray:
    """A VAD-sized block whose every sample is `index`, so transcribed audio is traceable."""
    return np.full(BLOCK, index, dtype=np.int16)


def block_ids(samples: np.ndarray) -> list[int]:
    """The indices of the `block()`s that make up `samples`."""
    return [int(v) for v in samples.reshape(-1, BLOCK)[:, 0]]


def tone(seconds: float, rate: int, freq: float = 440.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


async def eventually(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.002)


# --- providers ---------------------------------------------------------------------------
class ScriptedVADStream(VADStream):
    def __init__(self, script: deque[float], default: float) -> None:
        self._script = script
        self._default = default
        self.blocks = 0

    async def probability(self, block: np.ndarray) -> float:
        assert block.shape == (BLOCK,) and block.dtype == np.int16
        self.blocks += 1
        return self._script.popleft() if self._script else self._default


class FakeVAD(VAD):
    """Returns scripted speech probabilities, one per 512-sample block (then `default`)."""

    def __init__(self, probabilities: Iterable[float] = (), default: float = 0.0) -> None:
        self.script: deque[float] = deque(probabilities)
        self.default = default
        self.streams: list[ScriptedVADStream] = []

    def create_stream(self) -> VADStream:
        stream = ScriptedVADStream(self.script, self.default)
        self.streams.append(stream)
        return stream


class FakeSTT(STT):
    """Transcribes to a description of the blocks it was given ("blocks 3-17.") or a text."""

    def __init__(
        self,
        text: str | Callable[[np.ndarray], str] | None = None,
        delay: float = 0.0,
        error: Exception | None = None,
        avg_logprob: float | None = None,
        translation: Callable[[np.ndarray, str | None], str] | None = None,
    ) -> None:
        self._text = text
        self.delay = delay
        self.error = error
        self.avg_logprob = avg_logprob
        self.calls: list[np.ndarray] = []
        self.cancelled: list[np.ndarray] = []
        self.languages: list[str | None] = []  # the `language` of each transcribe call
        self.translation = translation  # None: translating is not supported (the base's error)
        self.translated: list[tuple[np.ndarray, str | None]] = []
        self.in_flight = 0

    async def translate(self, samples: np.ndarray, language: str | None = None) -> Transcript:
        if self.translation is None:
            return await super().translate(samples, language)
        self.translated.append((samples.copy(), language))
        if self.delay:
            await asyncio.sleep(self.delay)
        return Transcript(self.translation(samples, language), language, samples.size / 16000)

    async def transcribe(
        self,
        samples: np.ndarray,
        hints: Sequence[str] = (),
        language: str | None = None,
        *,
        english: bool = False,
    ) -> Transcript:
        self.languages.append(language)
        self.calls.append(samples.copy())
        self.in_flight += 1
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled.append(samples.copy())
            raise
        finally:
            self.in_flight -= 1
        if self.error is not None:
            raise self.error
        if self._text is None:
            ids = block_ids(samples)
            text = f"blocks {ids[0]}-{ids[-1]}." if ids else ""
        elif callable(self._text):
            text = self._text(samples)
        else:
            text = self._text
        translated = None
        if english and self.translation is not None:  # in the same call, as Whisper does
            translated = self.translation(samples, language)
            self.translated.append((samples.copy(), language))
        return Transcript(
            text=text,
            language=language,
            audio_seconds=samples.size / self.sample_rate,
            avg_logprob=self.avg_logprob,
            english=translated,
        )

    @property
    def idle(self) -> bool:
        return self.in_flight == 0


Reply = str | list[str | Exception | asyncio.Event] | Exception


class FakeLLM(LLM):
    """Streams scripted replies word by word.

    A reply may be a list of parts: text is streamed, an Exception is raised, an asyncio.Event
    is waited for (so a test can decide when the stream goes on)."""

    name = "fake-llm"

    def __init__(
        self,
        *replies: Reply,
        default: str = "Okay then.",
        answer: Callable[[LLMRequest], Reply] | None = None,
    ) -> None:
        self.replies: deque[Reply] = deque(replies)
        self.default = default
        self.answer = answer
        self.requests: list[LLMRequest] = []

    async def stream(self, request: LLMRequest) -> AsyncIterator[str]:
        self.requests.append(request)
        if self.answer is not None:
            reply = self.answer(request)
        else:
            reply = self.replies.popleft() if self.replies else self.default
        parts = [reply] if isinstance(reply, str | Exception) else list(reply)
        for part in parts:
            if isinstance(part, Exception):
                raise part
            if isinstance(part, asyncio.Event):
                await part.wait()
                continue
            for token in re.findall(r"\S+\s*", part):
                await asyncio.sleep(0)
                yield token


class FakeTTS(TTS):
    """A tone per sentence, in `chunks` pieces of `chunk_s` seconds."""

    name = "fake-tts"
    sample_rate = 22050

    def __init__(self, chunks: int = 2, chunk_s: float = 0.1) -> None:
        self.chunks = chunks
        self.chunk_s = chunk_s
        self.texts: list[str] = []

    async def synthesize(self, text: str) -> AsyncIterator[SpeechAudio]:
        if not text:
            raise ProviderError("empty text")
        self.texts.append(text)
        for _ in range(self.chunks):
            await asyncio.sleep(0)
            yield SpeechAudio(tone(self.chunk_s, self.sample_rate), self.sample_rate)


def fake_models(
    vad: VAD | None = None, stt: STT | None = None, llm: LLM | None = None, tts: TTS | None = None
) -> ModelSet:
    return ModelSet(
        vad=vad or FakeVAD(),
        stt=stt or FakeSTT("hello"),
        llm=llm or FakeLLM(),
        tts=tts or FakeTTS(),
    )


class FakeAgent(Agent):
    name = "fake agent"
    instructions = "Be brief."
    examples: list[tuple[str, str]] = []  # noqa: RUF012


# --- transport ---------------------------------------------------------------------------
class FakeSink(AudioSink):
    """An outbound queue played out by a background "player" (autoplay) or by the test.

    Like the real track, playout is in order: a marker is called when playout reaches it,
    `played_seconds` counts the audio that went out, pause() holds the queue, clear() drops it.
    """

    def __init__(self, autoplay: bool = True) -> None:
        self.autoplay = autoplay
        self.queue: deque[tuple[str, Any]] = deque()
        self.pushed_seconds = 0.0
        self.clears = 0
        self.paused = False
        self.pauses = 0
        self.observers: list[Callable[[np.ndarray, int], None]] = []
        self._played = 0.0
        self._player: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def push(self, samples: np.ndarray, sample_rate: int) -> None:
        assert samples.dtype == np.int16 and samples.ndim == 1
        seconds = samples.size / sample_rate
        self.pushed_seconds += seconds
        self._enqueue(("audio", seconds))

    def mark(self, on_played: Marker) -> None:
        self._enqueue(("mark", on_played))

    def _enqueue(self, item: tuple[str, Any]) -> None:
        self.queue.append(item)
        if self.autoplay:
            if self._player is None:
                self._player = asyncio.get_running_loop().create_task(self._play_forever())
            self._wake.set()

    async def _play_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.autoplay and self.queue and not self.paused:
                self._play_one()
                await asyncio.sleep(0)

    def _play_one(self) -> None:
        kind, value = self.queue.popleft()
        if kind == "mark":
            value()
        else:
            self._played += value

    def clear(self) -> float:
        dropped = self.queued_seconds
        self.queue.clear()
        self.clears += 1
        self.paused = False
        return dropped

    def pause(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume(self) -> None:
        self.paused = False
        self._wake.set()

    @property
    def queued_seconds(self) -> float:
        return sum(value for kind, value in self.queue if kind == "audio")

    @property
    def played_seconds(self) -> float:
        return self._played

    def observe(self, observer: Callable[[np.ndarray, int], None]) -> None:
        self.observers.append(observer)

    def play(self, chunks: int) -> None:
        """Play `chunks` audio chunks, each after the markers that precede it."""
        assert not self.paused, "the agent is paused"
        for _ in range(chunks):
            while self.queue and self.queue[0][0] == "mark":
                self._play_one()
            assert self.queue, "nothing left to play"
            self._play_one()

    def play_all(self) -> None:
        while self.queue and not self.paused:
            self._play_one()

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.queue]

    def close(self) -> None:
        if self._player is not None:
            self._player.cancel()


class AudioFeed:
    """Inbound audio the test pushes; `send()` returns once every chunk was processed."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[np.ndarray | None] = asyncio.Queue()

    async def chunks(self) -> AsyncIterator[np.ndarray]:
        while (chunk := await self._queue.get()) is not None:
            yield chunk
            self._queue.task_done()  # the consumer asked for the next: this one is done

    async def send(self, chunks: Iterable[np.ndarray]) -> None:
        for chunk in chunks:
            self._queue.put_nowait(chunk)
            await self._queue.join()

    def end(self) -> None:
        self._queue.put_nowait(None)


USER = ParticipantInfo("user-1", "Ann")


class PeerFeed:
    """The one peer of a FakeTransport: `send` its audio; `end()`: the peer leaves."""

    def __init__(self, transport: FakeTransport, participant: MemoryParticipant) -> None:
        self._transport = transport
        self._participant = participant

    async def send(self, chunks: Iterable[np.ndarray]) -> None:
        await self._participant.send(chunks)

    def end(self) -> None:
        self._transport.end()


class FakeTransport(MemoryTransport):
    """A peer-to-peer call in memory: one participant (`USER`) joined from the start."""

    def __init__(self, sink: AudioSink | None = None) -> None:
        super().__init__(sink or FakeSink())
        self.feed = PeerFeed(self, self.join(USER))

    def deliver(self, message: dict[str, Any], sender: str = USER.identity) -> None:  # type: ignore[override]
        super().deliver(sender, message)

    # helpers for assertions
    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["type"] == kind]

    def states(self) -> list[str]:
        return [m["state"] for m in self.of_type("state")]

    def transcripts(self, role: str, final: bool | None = None) -> list[dict[str, Any]]:
        return [
            m
            for m in self.of_type("transcript")
            if m["role"] == role and (final is None or m["final"] == final)
        ]

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 3.0
    ) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        def check() -> bool:
            found[:] = [m for m in self.sent if predicate(m)]
            return bool(found)

        await eventually(check, timeout)
        return found[0]
