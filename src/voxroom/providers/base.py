"""Base classes every provider implements, and the off-loop execution they all share.

Inference never runs on the event loop: each loaded model owns a small thread pool
(`ModelRunner`), shared by every session of the process, so sessions queue for a model instead
of each starting threads of their own.
"""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import numpy as np

from voxroom.providers.sharing import MODELS_RUNNING

T = TypeVar("T")


class ProviderError(RuntimeError):
    """A model backend failed; the session reports it and goes on."""


class ModelRunner:
    """Runs blocking model calls in a dedicated pool so the media path never waits on them."""

    def __init__(self, name: str, workers: int = 1) -> None:
        self.name = name
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"voxroom-{name}")
        self.in_flight = 0  # calls queued or running: lets optional work yield to required work

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        def call() -> T:
            with MODELS_RUNNING.running():
                return fn(*args)

        self.in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, call)
        finally:
            self.in_flight -= 1

    async def iterate(
        self, make_iter: Callable[[threading.Event], Iterator[T]]
    ) -> AsyncIterator[T]:
        """Drive a blocking iterator in the pool and yield its items on the loop as they come.

        `make_iter` receives a stop event; closing the async iterator (cancellation, barge-in)
        sets it and the producer stops at its next item, freeing the model for other sessions.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        stop = threading.Event()

        def produce() -> None:
            try:
                with MODELS_RUNNING.running():
                    for item in make_iter(stop):
                        if stop.is_set():
                            break
                        loop.call_soon_threadsafe(queue.put_nowait, ("item", item))
            except BaseException as exc:  # surfaced on the loop, not lost in the thread
                loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, ("end", None))

        future = loop.run_in_executor(self._pool, produce)
        try:
            while True:
                kind, value = await queue.get()
                if kind == "item":
                    yield value  # type: ignore[misc]
                elif kind == "error":
                    assert isinstance(value, BaseException)
                    raise ProviderError(f"{self.name}: {value}") from value
                else:
                    break
        finally:
            stop.set()
            if not future.done():  # let the producer reach its stop check: the model is free after
                await asyncio.shield(future)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


# --- VAD -----------------------------------------------------------------------------------


class VADStream(ABC):
    """Per-session VAD state over fixed blocks of 16 kHz int16 audio."""

    @abstractmethod
    async def probability(self, block: np.ndarray) -> float: ...


class VAD(ABC):
    sample_rate: int = 16000
    block_size: int = 512

    @abstractmethod
    def create_stream(self) -> VADStream: ...


# --- STT -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    language: str | None = None
    audio_seconds: float = 0.0
    provider: str = ""  # which backend answered (a fallback chain may vary)
    # The recognizer's mean token log-probability, when it reports one (Whisper does): how
    # sure it is of the words, e.g. to tell a hum it turned into a word from a real word.
    avg_logprob: float | None = None
    # The words in English, when asked for (`transcribe(..., english=True)`): the text
    # itself when English was spoken, else the recognizer's translation.
    english: str | None = None


class STT(ABC):
    sample_rate: int = 16000
    name: str = "stt"

    @abstractmethod
    async def transcribe(
        self,
        samples: np.ndarray,
        hints: Sequence[str] = (),
        language: str | None = None,
        *,
        english: bool = False,
    ) -> Transcript:
        """Transcribe mono int16 audio at `sample_rate`. `hints`: words likely to be said
        (the agent's name in a room), passed to models that take a prompt or hotwords;
        `language`: what is spoken (ISO 639-1, "es"), None: the configured default;
        `english`: also fill `Transcript.english` (Whisper decodes it from the same encoding
        of the audio; a backend that cannot translate leaves it None)."""

    async def translate(self, samples: np.ndarray, language: str | None = None) -> Transcript:
        """English text of speech in any language (`language`: the spoken one when known,
        else detected); `Transcript.language` says what was heard. Raises ProviderError
        where the backend cannot translate (Whisper and OpenAI's endpoint can)."""
        raise ProviderError(f"{self.name} does not translate speech")

    @property
    def idle(self) -> bool:
        """No transcription queued or running (optional work such as interims may start)."""
        return True


# --- LLM -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments object

    def openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def signature(self) -> str:
        """One line for plain-text prompts: name(arg, arg): description."""
        return f"{self.name}({', '.join(self.parameters['properties'])}): {self.description}"


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text as the model produced it (may be malformed)


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Literal["system", "user", "assistant", "tool"]
    # Text, or OpenAI content parts (text + image_url) for a multimodal user turn.
    content: str | list[dict[str, Any]]
    interrupted: bool = False
    tool_calls: tuple[ToolCall, ...] = ()  # assistant messages that called tools
    tool_call_id: str | None = None  # tool messages: the call they answer
    # Who said a user message, in a call with several people (their display name).
    speaker: str | None = None

    @property
    def text(self) -> str:
        """The text of the message (image parts left out: text-only models get this)."""
        if isinstance(self.content, str):
            return self.content
        return " ".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")

    def as_dict(self) -> dict[str, Any]:
        """For the audit log; shallow (dataclasses.asdict deep-copies: 180 µs vs 11 µs for an
        18-message context, 39% of the engine's reply-path overhead)."""
        from voxroom.media.vision import audit_content  # images → their hash and size

        data: dict[str, Any] = {"role": self.role, "content": audit_content(self.content)}
        if self.interrupted:
            data["interrupted"] = True
        if self.tool_calls:
            data["tool_calls"] = [
                {"id": c.id, "name": c.name, "arguments": c.arguments} for c in self.tool_calls
            ]
        if self.tool_call_id:
            data["tool_call_id"] = self.tool_call_id
        if self.speaker:
            data["speaker"] = self.speaker
        return data


@dataclass(slots=True)
class LLMUsage:
    """Filled in by the provider while it streams (None where a backend does not report)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: Literal["stop", "length"] | None = None
    served_by: str | None = None  # "provider:model" that answered (a fallback chain may vary)
    cache: Literal["exact", "semantic", "miss"] | None = None  # None: no response cache
    cache_similarity: float | None = None
    cache_lookup_ms: float | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LLMRequest:
    messages: list[ChatMessage]
    max_tokens: int = 64
    temperature: float = 0.6
    stop: list[str] = field(default_factory=list)
    tools: list[ToolSpec] = field(default_factory=list)
    usage: LLMUsage = field(default_factory=LLMUsage)

    def parameters(self) -> dict[str, object]:
        return {"max_tokens": self.max_tokens, "temperature": self.temperature, "stop": self.stop}


class LLM(ABC):
    name: str = "llm"
    model: str = "unknown"

    @abstractmethod
    def stream(self, request: LLMRequest) -> AsyncIterator[str]:
        """Yield text deltas as the model produces them; fill `request.usage` as known."""

    async def prepare(self, request: LLMRequest) -> None:
        """Read the start every later request of a session shares (instructions, examples,
        tools) before the first one comes, where the model keeps what it read (a local
        llama.cpp); nothing by default."""
        return None


# --- Embeddings ----------------------------------------------------------------------------


class Embedder(ABC):
    name: str = "embedder"

    @abstractmethod
    async def embed(self, text: str) -> np.ndarray:
        """A unit-length vector for `text` (so a dot product is the cosine similarity)."""


# --- TTS -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpeechAudio:
    """A chunk of synthesized speech: mono int16 samples and their rate."""

    samples: np.ndarray
    sample_rate: int
    provider: str = ""  # which backend spoke (a fallback chain may vary)

    @property
    def seconds(self) -> float:
        return self.samples.size / self.sample_rate


class TTS(ABC):
    name: str = "tts"

    @abstractmethod
    def synthesize(self, text: str) -> AsyncIterator[SpeechAudio]:
        """Yield speech for `text` (one sentence or clause), chunk by chunk."""
