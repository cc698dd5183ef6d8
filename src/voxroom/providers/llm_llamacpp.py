"""llama.cpp (llama-cpp-python) for local GGUF models, streamed token by token.

Base models get a few-shot completion prompt (see `prompt`). llama.cpp keeps the KV cache of
the previous prompt and reuses its longest common prefix, so the fixed instructions and
examples are evaluated once, not every turn.

Memory: every completion builds a sampler chain holding a native buffer of the vocabulary's
size (3 MB with Gemma 3's 262k tokens). llama-cpp-python frees it only through the cyclic
garbage collector (its cleanup callback refers back to it), so replies piled those buffers up
between full collections, and glibc's heap grew to the peak and stayed there: +76 MB RSS over
40 completions, measured. Each generation's sampler is closed as soon as the generation ends,
as upstream advises (abetlen/llama-cpp-python#1610): +3 MB over the same 40 (issue 15).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from llama_cpp import Llama

from voxroom.providers.base import LLM, LLMRequest, ModelRunner
from voxroom.providers.prompt import COMPLETION_STOPS, CallExtractor, completion_prompt
from voxroom.providers.sharing import LLM_PARALLEL


class LlamaCppLLM(LLM):
    name = "llama.cpp"

    def __init__(self, model_path: str | Path, *, threads: int = 2, context: int = 2048) -> None:
        self._llama = Llama(
            model_path=str(model_path), n_ctx=context, n_threads=threads, verbose=False
        )
        self.model = Path(model_path).name
        # llama.cpp contexts are not thread-safe: one generation at a time per loaded model.
        self.runner = ModelRunner("llm", workers=1)

    def _generate(self, request: LLMRequest, stop: threading.Event) -> Iterator[str]:
        prompt = completion_prompt(request.messages, request.tools)
        calls = CallExtractor()
        request.usage.prompt_tokens = len(self._llama.tokenize(prompt.encode(), add_bos=True))
        request.usage.completion_tokens = 0
        stream = self._llama.create_completion(
            prompt,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            top_p=0.9,
            repeat_penalty=1.1,
            stop=COMPLETION_STOPS + request.stop,
            stream=True,
        )
        try:
            for part in stream:
                if stop.is_set():
                    return
                choice: dict[str, Any] = part["choices"][0]  # type: ignore[index,assignment]
                request.usage.completion_tokens += 1  # llama.cpp streams one token per chunk
                LLM_PARALLEL.observe(1)  # one generation per decode step here (llm_parallel.py)
                if choice.get("finish_reason") in ("stop", "length"):
                    request.usage.finish_reason = choice["finish_reason"]
                if text := calls.push(str(choice["text"])):
                    yield text
        finally:
            getattr(stream, "close", lambda: None)()  # a generation stopped early ends here
            self._release_sampler()
        rest, call = calls.finish(len(request.usage.tool_calls))
        if rest:
            yield rest
        if call is not None:
            request.usage.tool_calls.append(call)

    def _release_sampler(self) -> None:
        """Free the finished generation's sampler chain now, not at the next full collection
        (see the module doc). The next generation builds its own."""
        sampler = getattr(self._llama, "_sampler", None)  # llama-cpp-python 0.3's attribute
        if sampler is not None:
            sampler.close()
            self._llama._sampler = None

    async def stream(self, request: LLMRequest) -> AsyncIterator[str]:
        async for delta in self.runner.iterate(lambda stop: self._generate(request, stop)):
            yield delta
