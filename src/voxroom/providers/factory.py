"""Builds the process-wide model set from configuration (models load once, sessions share)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from voxroom.config import ModelsConfig
from voxroom.providers.base import LLM, STT, TTS, VAD, ProviderError
from voxroom.providers.models import ModelCache

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ModelSet:
    vad: VAD
    stt: STT
    llm: LLM
    tts: TTS


def build_llm(config: ModelsConfig, cache: ModelCache) -> LLM:
    if config.llm.startswith(("http://", "https://")):
        from voxroom.providers.llm_openai import OpenAICompatibleLLM

        return OpenAICompatibleLLM(
            config.llm, model=config.llm_model_name, api_key=config.llm_api_key
        )
    from voxroom.providers.llm_llamacpp import LlamaCppLLM

    return LlamaCppLLM(cache.resolve_llm(config.llm), threads=config.llm_threads)


def build_tts(config: ModelsConfig, cache: ModelCache) -> TTS:
    from voxroom.providers.tts_espeak import EspeakTTS

    if config.tts == "espeak":
        return EspeakTTS()
    try:
        from voxroom.providers.tts_piper import PiperTTS

        if config.tts == "piper":
            model, voice_config = cache.piper_voice()
            return PiperTTS(model, voice_config)
        return PiperTTS(config.tts)
    except (ImportError, OSError, ProviderError) as exc:
        log.warning("Piper unavailable (%s); falling back to espeak-ng", exc)
        return EspeakTTS()


def load_models(config: ModelsConfig) -> ModelSet:
    from voxroom.providers.silero import SileroVAD
    from voxroom.providers.whisper import WhisperSTT

    cache = ModelCache(config.cache_dir)
    return ModelSet(
        vad=SileroVAD(),
        stt=WhisperSTT(
            cache.resolve_stt(config.stt),
            language=config.language,
            beam_size=config.stt_beam_size,
            threads=config.stt_threads,
        ),
        llm=build_llm(config, cache),
        tts=build_tts(config, cache),
    )
