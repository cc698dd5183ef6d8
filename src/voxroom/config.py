"""Typed settings. Every wait the engine makes is a named field here (and in turn metrics).

Values come from defaults, then `VOXROOM_*` environment variables, then CLI flags.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from voxroom.audit.config import AuditConfig


def _default_cache_dir() -> Path:
    return Path(os.environ.get("VOXROOM_CACHE_DIR", Path.home() / ".cache" / "voxroom"))


class IceServer(BaseModel):
    urls: list[str]
    username: str | None = None
    credential: str | None = None


class TransportConfig(BaseModel):
    # STUN/TURN servers; empty by default so nothing leaves the machine unless configured.
    ice_servers: list[IceServer] = Field(default_factory=list)
    # Local addresses to gather host candidates on. None = every interface plus 127.0.0.1
    # (aioice alone skips loopback, which breaks loopback-only hosts and containers).
    ice_addresses: list[str] | None = None
    # Audio packets held before the first is released (aiortc's default of 4 adds ~80 ms);
    # 0: each leaves as soon as it is next in sequence (the agent plays nothing it receives).
    jitter_prefetch: int = Field(default=0, ge=0)
    # A peer that has not connected this long after our answer is dropped: a client that
    # posts an offer and never completes ICE would otherwise hold a session slot forever.
    connect_timeout_s: float = Field(default=20.0, gt=0)
    # Opus DTX on the agent's output: while the agent is silent, one header-only packet per
    # 400 ms instead of 50 silent packets a second (as libwebrtc sends with DTX on).
    dtx: bool = True

    @field_validator("ice_addresses", mode="before")
    @classmethod
    def _split_addresses(cls, value: object) -> object:
        if isinstance(value, str):  # from the environment: "127.0.0.1,10.0.0.2"
            return [item.strip() for item in value.split(",") if item.strip()]
        return value


class ModelsConfig(BaseModel):
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    # Each of stt/llm/tts is a comma-separated chain tried in order (timeouts, retries,
    # fallback): entries are packaged names, local paths, or OpenAI-compatible base URLs.
    # "whisper-base" (packaged), a CTranslate2 model directory / hub name, or a URL.
    stt: str = "whisper-base"
    stt_model_name: str = "whisper-1"  # `model` sent to an OpenAI-compatible endpoint
    stt_beam_size: int = 1
    # Whisper encodes a window fitted to the utterance (≥ 10 s) instead of its fixed 30 s:
    # about 4× faster on short turns, same word error rate (providers/whisper.py).
    stt_fitted_window: bool = True
    language: str | None = "en"
    # "gemma3-270m" (packaged), a local .gguf path, or an OpenAI-compatible base URL (http...).
    llm: str = "gemma3-270m"
    llm_model_name: str = "default"  # the `model` field sent to OpenAI-compatible endpoints
    api_key: str | None = None  # bearer key for OpenAI-compatible endpoints
    llm_max_tokens: int = 64
    llm_temperature: float = 0.6
    llm_threads: int = 2
    # "piper" (packaged joe voice), a Piper .onnx path, "espeak" (espeak-ng), or a URL.
    tts: str = "piper,espeak"
    # Opt-in response cache: "exact" (same full model input) or "semantic" (same context and a
    # last user message within `response_cache_similarity`; needs voxroom[semantic]).
    response_cache: Literal["off", "exact", "semantic"] = "off"
    response_cache_similarity: float = 0.92
    response_cache_size: int = 1024
    tts_model_name: str = "tts-1"
    tts_voice: str = "alloy"
    stt_threads: int = 2


class TurnConfig(BaseModel):
    """Every wait of the turn-taking engine, by name (each shows in the turn's metrics)."""

    vad_threshold: float = 0.5
    # Voice while the agent speaks that pauses its audio at once (undone if it was a noise).
    onset_ms: int = 32
    # Speech shorter than this is not a turn (clicks, coughs).
    min_speech_ms: int = 160
    # Silence that ends a user turn provisionally; the reply is generated meanwhile.
    end_of_turn_silence_ms: int = 350
    # When the transcript so far sounds unfinished ("… and"), playout waits for this much
    # silence instead; speech resuming before playout merges into the same turn.
    incomplete_turn_silence_ms: int = 1500
    semantic_endpointing: bool = True
    # Silence after which the final transcription starts speculatively (hidden in the wait).
    # Two VAD blocks: Whisper's fitted window takes ~270 ms here, so it is done by the end of
    # turn (bench latency v2v p50: 921 ms at 64, 1082 ms at 160).
    speculative_stt_after_ms: int = 64
    # Voiced speech over the agent beyond which it is an interruption without waiting for
    # words; shorter speech whose words are only a backchannel ("mm-hmm") resumes the agent.
    interruption_speech_ms: int = 1000
    resume_after_false_interruption: bool = True
    # Interim captions: re-transcribe the growing utterance at most this often (0 = off).
    interim_interval_ms: int = 1500
    # ... and only once the user has spoken this long. One recognizer serves the session, so
    # an interim still running when a short question ends delays its final transcript: the
    # measured cost was most of a decode (docs/benchmarks.md). Short turns get the final
    # caption about a decode after they end anyway.
    interim_after_ms: int = 3000
    # Longest utterance kept (older audio is dropped from the turn).
    max_utterance_s: float = 30.0
    # A released reply whose audio is queued but has played nothing for this long while
    # nobody speaks is stuck (an error event; playout is resumed): never a mute agent.
    reply_stall_ms: int = Field(default=3000, gt=0)


class ServerConfig(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8080
    dev_mode: bool = True
    max_sessions: int = 8
    max_sdp_bytes: int = 64 * 1024
    token_ttl_s: int = 3600
    # Session/token creations per client address: sustained rate and burst.
    rate_limit_per_minute: float = 60.0
    rate_limit_burst: int = 20
    secret: str | None = None  # signing key; None = VOXROOM_SECRET or a generated file


class RoomsConfig(BaseModel):
    """Rooms: calls with several people and the agent, on the Janus WebRTC server."""

    # "embedded": the server starts and supervises its own Janus on first use (the Debian
    # package `janus`); or the WebSocket API URL of a Janus you run (ws://host:8188).
    janus: str = "embedded"
    # The embedded Janus: its WebSocket port on 127.0.0.1 (0: a free one), the interface it
    # runs ICE on (None: the first non-loopback interface that is up; Janus does no ICE on
    # loopback), and its UDP port range for media.
    janus_ws_port: int = Field(default=0, ge=0, le=65535)
    janus_ice_interface: str | None = None
    janus_rtp_ports: tuple[int, int] = (20000, 20199)
    # VideoRoom admin key: without it nobody can create rooms in Janus (generated per run
    # for the embedded Janus; set it for yours).
    janus_admin_key: str | None = None
    max_rooms: int = Field(default=8, gt=0)
    max_participants: int = Field(default=6, gt=0)  # publishers per room, the agent included
    # A room nobody has been in for this long is ended (its agent leaves).
    empty_timeout_s: float = Field(default=600.0, gt=0)

    @field_validator("janus_rtp_ports", mode="before")
    @classmethod
    def _split_ports(cls, value: object) -> object:
        if isinstance(value, str):  # from the environment: "20000-20199"
            low, _, high = value.partition("-")
            return (low.strip(), high.strip())
        return value


class VoxroomConfig(BaseModel):
    audit: AuditConfig = Field(default_factory=AuditConfig)
    rooms: RoomsConfig = Field(default_factory=RoomsConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    transport: TransportConfig = Field(default_factory=TransportConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    turns: TurnConfig = Field(default_factory=TurnConfig)

    @classmethod
    def from_env(cls) -> VoxroomConfig:
        """Defaults overridden by `VOXROOM_<SECTION>__<FIELD>` variables, e.g.
        `VOXROOM_MODELS__LLM=/models/qwen.gguf`, `VOXROOM_TRANSPORT__ICE_ADDRESSES=127.0.0.1`."""
        data: dict[str, dict[str, object]] = {}
        for key, value in os.environ.items():
            if not key.startswith("VOXROOM_") or "__" not in key:
                continue
            section, _, field = key[len("VOXROOM_") :].lower().partition("__")
            if section in cls.model_fields:
                data.setdefault(section, {})[field] = value
        return cls.model_validate(data)
