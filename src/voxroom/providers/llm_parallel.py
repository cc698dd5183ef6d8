"""llama.cpp serving many sessions from one loaded model: parallel sequences in one context.

`LlamaCppLLM` runs one generation at a time on one context, so a session's first sentence
waited behind every other session's whole reply, and each session's prompt pushed the
others' history out of the single KV cache (only the longest common prefix of the previous
prompt is reused). Here one context holds `slots` sequences, each with its own KV cache
(llama.cpp's per-sequence streams), and one thread advances every running generation by one
token per `llama_decode` call: a batch of n tokens costs far less than n single-token calls
(the weights, and Gemma 3's 262k-token output matrix, are read once per step).

A request takes the idle slot whose cached tokens share the longest prefix with its prompt
(its own session's last turn, when it is still there; at least the few-shot instructions
every session shares), least recently used first among equals, and only the rest of its
prompt is evaluated, in chunks of at most `prefill_chunk` tokens so a new prompt never
stalls the running replies for long. Requests beyond `slots` wait for a free slot.
Cancelling (barge-in, a provisional reply dropped) frees the slot at the next step.

Sampling matches `LlamaCppLLM` (`Sampling`): llama-cpp-python's `create_completion` chain
with the same parameters.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import queue
import random
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import llama_cpp
from llama_cpp import _logger
from llama_cpp._internals import LlamaBatch, LlamaContext, LlamaModel, LlamaSampler

from voxroom.providers.base import LLM, LLMRequest, ProviderError
from voxroom.providers.llm_threads import ThreadChoice
from voxroom.providers.prompt import COMPLETION_STOPS, CallExtractor, completion_prompt
from voxroom.providers.sharing import (
    AGENTS_SPEAKING,
    LLM_PARALLEL,
    MODELS_RUNNING,
    SESSIONS_RUNNING,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Sampling:
    """The sampler chain of llama-cpp-python's `create_completion` (its defaults, and the
    values `LlamaCppLLM` passes)."""

    temperature: float = 0.6
    top_k: int = 40
    top_p: float = 0.9
    min_p: float = 0.05
    typical_p: float = 1.0
    repeat_penalty: float = 1.1
    penalty_last_n: int = 64

    def sampler(self, n_vocab: int, seed: int) -> LlamaSampler:
        chain = LlamaSampler()  # type: ignore[no-untyped-call]
        chain.add_penalties(n_vocab, self.penalty_last_n, self.repeat_penalty, 0.0, 0.0)
        if self.temperature <= 0:
            chain.add_greedy()  # type: ignore[no-untyped-call]
            return chain
        chain.add_top_k(self.top_k)
        chain.add_typical(self.typical_p, 1)
        chain.add_top_p(self.top_p, 1)
        chain.add_min_p(self.min_p, 1)
        chain.add_temp(self.temperature)
        chain.add_dist(seed)
        return chain


class StopText:
    """Turns token bytes into text that is safe to show: whole UTF-8 characters, cut at the
    first stop string, holding back a tail that may be the start of one."""

    def __init__(self, stops: list[str]) -> None:
        self._stops = [s for s in stops if s]
        self._bytes = b""
        self._held = ""
        self.stopped = False

    def push(self, piece: bytes) -> str:
        self._bytes += piece
        try:
            text, self._bytes = self._bytes.decode(), b""
        except UnicodeDecodeError as exc:
            if exc.reason != "unexpected end of data":
                text, self._bytes = self._bytes.decode(errors="replace"), b""
            else:  # a character split across tokens: wait for its other bytes
                text, self._bytes = self._bytes[: exc.start].decode(), self._bytes[exc.start :]
        held = self._held + text
        cut = min((i for s in self._stops if (i := held.find(s)) >= 0), default=-1)
        if cut >= 0:
            self._held, self.stopped = "", True
            return held[:cut]
        keep = max((k for s in self._stops for k in range(1, len(s)) if held.endswith(s[:k])),
                   default=0)  # fmt: skip
        self._held = held[len(held) - keep :] if keep else ""
        return held[: len(held) - keep]

    def flush(self) -> str:
        rest, self._held = self._held + self._bytes.decode(errors="ignore"), ""
        self._bytes = b""
        return rest


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@dataclass(eq=False)
class Slot:
    """One sequence of the context; `tokens` is exactly what its KV cache holds."""

    seq_id: int
    tokens: list[int] = field(default_factory=list)
    job: Job | None = None
    last_used: float = 0.0


def pick_slot(slots: list[Slot], prompt: list[int]) -> tuple[Slot, int] | None:
    """The idle slot sharing the longest prefix with `prompt` (least recently used among
    equals) and that prefix's length; None when every slot is busy."""
    idle = [s for s in slots if s.job is None]
    if not idle:
        return None
    best = max(idle, key=lambda s: (common_prefix(s.tokens, prompt), -s.last_used))
    return best, common_prefix(best.tokens, prompt)


Emit = Callable[[str, object], None]  # ("text", str) | ("end", finish reason) | ("error", exc)


@dataclass(eq=False)
class Job:
    prompt: str
    max_tokens: int
    sampling: Sampling
    stops: list[str]
    emit: Emit
    cancelled: threading.Event = field(default_factory=threading.Event)
    tokens: list[int] = field(default_factory=list)  # the tokenized prompt
    pending: list[int] = field(default_factory=list)  # prompt tokens not yet evaluated
    next_token: int | None = None  # sampled, to be fed at the next step
    generated: int = 0
    sampler: LlamaSampler | None = None
    text: StopText | None = None
    slot: Slot | None = None


class ParallelLlama:
    """One model, one context of `slots` sequences, one thread stepping them together."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        slots: int = 8,
        context: int = 2048,
        threads: int = 2,
        batch: int = 512,
        prefill_chunk: int = 128,
        prefill_beside_replies: int = 32,
    ) -> None:
        llama_cpp.llama_backend_init()
        _logger.set_verbose(False)  # llama.cpp's load and context logs (as `Llama` does)
        self._model = LlamaModel(
            path_model=str(model_path), params=llama_cpp.llama_model_default_params(),
            verbose=False,
        )  # fmt: skip
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = slots * context
        params.n_batch = params.n_ubatch = batch
        params.n_seq_max = slots
        params.n_threads = params.n_threads_batch = 1
        params.kv_unified = False  # each sequence its own stream: attention over its own tokens
        self._ctx = LlamaContext(model=self._model, params=params, verbose=False)
        self._threads = ThreadChoice(threads, _others_running)
        self._threads_set = 1
        self._batch = LlamaBatch(n_tokens=batch, embd=0, n_seq_max=1, verbose=False)
        self._n_batch = batch
        self._chunk = min(prefill_chunk, batch)
        self._chunk_beside_replies = min(prefill_beside_replies, self._chunk)
        self.context = context
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self._model.vocab)
        self._buffer = ctypes.create_string_buffer(64)
        self.slots = [Slot(i) for i in range(slots)]
        self._incoming: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._waiting: deque[Job] = deque()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="voxroom-llm", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> None:
        if self._closed:
            raise ProviderError("llama.cpp engine is closed")
        self._incoming.put(job)

    def close(self) -> None:
        self._closed = True
        self._incoming.put(None)
        self._thread.join(timeout=10)

    # --- the engine thread ---------------------------------------------------------------
    def _run(self) -> None:
        while not self._closed:
            busy = any(s.job is not None for s in self.slots)
            try:
                self._take(block=not busy and not self._waiting)
                self._assign()
                self._step()
            except Exception as exc:  # the engine survives; the jobs of this step do not
                log.exception("llama.cpp step failed")
                for slot in self.slots:
                    if slot.job is not None:
                        self._finish(slot.job, error=exc)
                    self._forget(slot)

    def _take(self, block: bool) -> None:
        while True:
            try:
                job = self._incoming.get(block=block)
            except queue.Empty:
                return
            if job is None:
                return
            block = False
            try:
                job.tokens = self._model.tokenize(job.prompt.encode(), True, False)
            except Exception as exc:
                job.emit("error", exc)
                continue
            if len(job.tokens) >= self.context:
                job.emit("error", ValueError(f"prompt of {len(job.tokens)} tokens exceeds the "
                                             f"context window of {self.context}"))  # fmt: skip
                continue
            job.max_tokens = min(job.max_tokens, self.context - len(job.tokens))
            self._waiting.append(job)

    def _assign(self) -> None:
        while self._waiting:
            job = self._waiting[0]
            if job.cancelled.is_set():
                self._waiting.popleft()
                job.emit("end", None)
                continue
            picked = pick_slot(self.slots, job.tokens)
            if picked is None:
                return
            slot, reuse = picked
            self._waiting.popleft()
            reuse = min(reuse, len(job.tokens) - 1)  # evaluate one token at least: its logits
            if reuse < len(slot.tokens) and not self._ctx.kv_cache_seq_rm(slot.seq_id, reuse, -1):
                self._forget(slot)
                reuse = 0
            del slot.tokens[reuse:]
            job.pending = job.tokens[reuse:]
            job.sampler = job.sampling.sampler(self.n_vocab, random.getrandbits(31))
            job.text = StopText(job.stops)
            job.slot, slot.job = slot, job

    def _forget(self, slot: Slot) -> None:
        self._ctx.kv_cache_seq_rm(slot.seq_id, 0, -1)
        slot.tokens.clear()

    def _step(self) -> None:
        for slot in self.slots:
            if slot.job is not None and slot.job.cancelled.is_set():
                self._finish(slot.job, reason=None)
        running = [s for s in self.slots if s.job is not None]
        if not running:
            return
        batch = self._batch.batch
        batch.n_tokens = 0
        outputs: list[tuple[Job, int]] = []

        def add(slot: Slot, token: int, logits: bool) -> None:
            i = batch.n_tokens
            batch.token[i], batch.pos[i] = token, len(slot.tokens)
            batch.seq_id[i][0], batch.n_seq_id[i], batch.logits[i] = slot.seq_id, 1, logits
            batch.n_tokens += 1
            slot.tokens.append(token)

        for slot in running:  # the replies being spoken first: one token each
            job = slot.job
            assert job is not None
            if job.next_token is not None:
                add(slot, job.next_token, True)
                job.next_token = None
                outputs.append((job, batch.n_tokens - 1))
        read: list[Job] = []  # prompts read to their end that generate nothing (`prepare`)
        # Then prompts, in chunks; smaller ones while replies are generating: a step that
        # reads 128 prompt tokens on one thread takes ~0.5 s, and every running reply waits
        # that long for its next token.
        chunk = self._chunk if not outputs else self._chunk_beside_replies
        for slot in sorted(running, key=lambda s: s.last_used):
            job = slot.job
            assert job is not None
            room = self._n_batch - batch.n_tokens
            if not job.pending or room <= 0:
                continue
            take = job.pending[: min(chunk, room)]
            del job.pending[: len(take)]
            for k, token in enumerate(take):
                add(slot, token, not job.pending and k == len(take) - 1)
            if not job.pending:
                if job.max_tokens > 0:
                    outputs.append((job, batch.n_tokens - 1))
                else:
                    read.append(job)
        if batch.n_tokens == 0:
            return
        threads = self._threads.threads(len(running))
        if threads != self._threads_set:
            llama_cpp.llama_set_n_threads(self._ctx.ctx, threads, threads)
            self._threads_set = threads
        started = time.monotonic()
        self._ctx.decode(self._batch)
        self._threads.observe(threads, batch.n_tokens, time.monotonic() - started)
        for job in read:
            self._finish(job, reason="length")
        if outputs:
            LLM_PARALLEL.observe(len(outputs))
        now = time.monotonic()
        for job, index in outputs:
            assert job.sampler is not None and job.slot is not None
            job.slot.last_used = now
            token = llama_cpp.llama_sampler_sample(job.sampler.sampler, self._ctx.ctx, index)
            self._accept(job, token)

    def _accept(self, job: Job, token: int) -> None:
        assert job.text is not None
        if llama_cpp.llama_vocab_is_eog(self._model.vocab, token):
            self._finish(job, reason="stop")
            return
        job.generated += 1
        text = job.text.push(self._piece(token))
        job.emit("token", text)
        if job.text.stopped:
            self._finish(job, reason="stop")
        elif job.generated >= job.max_tokens:
            self._finish(job, reason="length")
        else:
            job.next_token = token

    def _piece(self, token: int) -> bytes:
        size = llama_cpp.llama_token_to_piece(self._model.vocab, token, self._buffer, 64, 0, False)
        return self._buffer.raw[: max(0, size)]

    def _finish(self, job: Job, reason: str | None = None, error: Exception | None = None) -> None:
        slot = job.slot
        if slot is not None:
            slot.job, job.slot = None, None
            slot.last_used = time.monotonic()
        if job.sampler is not None:
            job.sampler.close()  # type: ignore[no-untyped-call]  # its native buffers now (see llm_llamacpp's module doc)
            job.sampler = None
        if error is not None:
            job.emit("error", error)
            return
        if job.text is not None and reason is not None and (rest := job.text.flush()):
            job.emit("token", rest)
        job.emit("end", reason)


class ParallelLlamaCppLLM(LLM):
    """The `LLM` over `ParallelLlama`: same prompt, tool-call parsing and usage as
    `LlamaCppLLM`, many sessions at once."""

    name = "llama.cpp"

    def __init__(
        self,
        model_path: str | Path,
        *,
        threads: int = 2,
        context: int = 2048,
        slots: int = 8,
        sampling: Sampling | None = None,
    ) -> None:
        self.engine = ParallelLlama(model_path, slots=slots, context=context, threads=threads)
        self.model = Path(model_path).name
        self._sampling = sampling or Sampling()

    async def prepare(self, request: LLMRequest) -> None:
        """Read the prompt up to its last line into a free sequence, generating nothing: the
        session's first request finds it there and reads only its own words (the packaged
        Gemma's first token came 855 ms after the first question, 65–150 ms after later ones;
        issue 17)."""
        prompt = completion_prompt(request.messages, request.tools)
        job, items = self._job(prompt[: prompt.rfind("\n") + 1], 0, request)
        self.engine.submit(job)
        try:
            while (kind := (await items.get())[0]) == "token":
                pass
        finally:
            job.cancelled.set()
        if kind == "error":
            raise ProviderError("llm: reading the prompt failed")

    def _job(
        self, prompt: str, max_tokens: int, request: LLMRequest
    ) -> tuple[Job, asyncio.Queue[tuple[str, object]]]:
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        job = Job(
            prompt=prompt,
            max_tokens=max_tokens,
            sampling=replace(self._sampling, temperature=request.temperature),
            stops=COMPLETION_STOPS + request.stop,
            emit=lambda kind, value: _post(loop, items, kind, value),
        )
        return job, items

    async def stream(self, request: LLMRequest) -> AsyncIterator[str]:
        prompt = completion_prompt(request.messages, request.tools)
        job, items = self._job(prompt, request.max_tokens, request)
        calls = CallExtractor()
        usage = request.usage
        usage.completion_tokens = 0
        self.engine.submit(job)
        try:
            while True:
                kind, value = await items.get()
                if kind == "token":
                    if usage.prompt_tokens is None:
                        usage.prompt_tokens = len(job.tokens)
                    usage.completion_tokens += 1
                    if text := calls.push(str(value)):
                        yield text
                elif kind == "error":
                    assert isinstance(value, BaseException)
                    raise ProviderError(f"llm: {value}") from value
                else:
                    if value in ("stop", "length"):
                        usage.finish_reason = value
                    break
        finally:
            job.cancelled.set()
        usage.prompt_tokens = len(job.tokens)
        rest, call = calls.finish(len(usage.tool_calls))
        if rest:
            yield rest
        if call is not None:
            usage.tool_calls.append(call)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.engine.close()


def _others_running() -> int:
    """What else needs a core: model calls, every call after the first (each one's audio is
    decoded, encoded and listened to on the event loop), and agents speaking (the rest of a
    reply is not in a hurry then; the barge-in check is)."""
    return MODELS_RUNNING.count + max(0, SESSIONS_RUNNING.count - 1) + AGENTS_SPEAKING.count


def _post(
    loop: asyncio.AbstractEventLoop,
    items: asyncio.Queue[tuple[str, object]],
    kind: str,
    value: object,
) -> None:
    """From the engine thread to the stream's loop (gone, if the loop closed: a job cancelled
    while the step that emits its token was running must not fail the other jobs' step)."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(items.put_nowait, (kind, value))
