"""Builds the process-wide model set from configuration (models load once, sessions share).

Each of `llm`, `stt` and `tts` is a comma-separated chain tried in order with timeouts and
retries (`resilience`): e.g. `http://gpu-box:8000/v1,gemma3-270m` uses a remote model and
falls back to the packaged one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from voxroom.config import ModelsConfig
from voxroom.providers.base import LLM, STT, TTS, VAD
from voxroom.providers.cache import CachedLLM, ResponseCache
from voxroom.providers.models import ModelCache
from voxroom.providers.resilience import LLMChain, STTChain, TTSChain

log = logging.getLogger(__name__)
T = TypeVar("T")


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
    for entry in _entries(spec):
        try:
            built.append(build(entry))
        except Exception as exc:  # one unavailable backend must not stop the others loading
            log.warning("%s %r unavailable: %s", kind, entry, exc)
    if not built:
        raise RuntimeError(f"no {kind} provider could be loaded from {spec!r}")
    return built


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
