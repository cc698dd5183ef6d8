"""Typed settings. Every wait the engine makes is a named field here (and in turn metrics).

Values come from defaults, then a TOML config file (`VOXROOM_CONFIG` or `--config`), then
`VOXROOM_*` environment variables, then CLI flags. pydantic-settings reads and merges the
file and the environment; the models below validate the result, and unknown names are
refused (a typo would otherwise be ignored silently).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from voxroom.audit.config import AuditConfig


class ConfigError(ValueError):
    """A `VOXROOM_*` variable that is not a setting or has a value the setting refuses."""


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
    stt_beam_size: int = Field(default=1, ge=1)
    # Whisper encodes a window fitted to the utterance (≥ 10 s) instead of its fixed 30 s:
    # about 4× faster on short turns, same word error rate (providers/whisper.py).
    stt_fitted_window: bool = True
    language: str | None = "en"
    # "gemma3-270m" (packaged), a local .gguf path, or an OpenAI-compatible base URL (http...).
    llm: str = "gemma3-270m"
    llm_model_name: str = "default"  # the `model` field sent to OpenAI-compatible endpoints
    api_key: str | None = None  # bearer key for OpenAI-compatible endpoints
    llm_max_tokens: int = Field(default=64, ge=1)
    # Greedy: the packaged model answered right more often (bench answers); a reply that
    # repeats an earlier one is generated again (agent/speak_check.py).
    llm_temperature: float = Field(default=0.0, ge=0, le=2)
    # The most threads llama.cpp takes. The parallel engine takes more than one only while
    # nothing else in the process computes and no other program holds the cores
    # (providers/llm_threads.py): two threads stall each other when another thread takes a
    # core (bench latency on a busy machine: v2v p50 3268 ms with 1 thread, 6456 with 2),
    # and halve a lone reply's time on an idle one (issue 17). `LLM_PARALLEL=1` uses exactly
    # this many.
    llm_threads: int = Field(default=2, ge=1)
    # Replies a local llama.cpp model generates at once: parallel sequences in one context,
    # advanced together by each decode step, each keeping its session's KV cache between
    # turns (providers/llm_parallel.py). 1: one generation at a time on one context, the
    # others queued behind it (before issue 17).
    llm_parallel: int = Field(default=8, ge=1)
    # "piper" (packaged joe voice), a Piper .onnx path, "espeak" (espeak-ng), or a URL.
    tts: str = "piper,espeak"
    # Opt-in response cache: "exact" (same full model input) or "semantic" (same context and a
    # last user message within `response_cache_similarity`; needs voxroom[semantic]).
    response_cache: Literal["off", "exact", "semantic"] = "off"
    response_cache_similarity: float = Field(default=0.92, gt=0, le=1)
    response_cache_size: int = Field(default=1024, ge=1)
    tts_model_name: str = "tts-1"
    tts_voice: str = "alloy"
    stt_threads: int = Field(default=2, ge=1)
    # Transcriptions a local Whisper runs as one batch when several sessions wait for it
    # (one encoder call, one batched greedy decode); 1: one at a time. Off by default: on
    # this project's 2-core CPU, CTranslate2 took longer for a batch of 4 than for the 4
    # one after another (docs/benchmarks.md, capacity); it may pay where GEMMs batch well.
    stt_batch: int = Field(default=1, ge=1)

    @field_validator("stt", "llm", "tts")
    @classmethod
    def _names_a_model(cls, value: str) -> str:
        if not value.replace(",", "").strip():
            raise ValueError("name at least one model (a packaged name, a path or a URL)")
        return value


class TurnConfig(BaseModel):
    """Every wait of the turn-taking engine, by name (each shows in the turn's metrics)."""

    vad_threshold: float = Field(default=0.5, gt=0, lt=1)
    # Voice while the agent speaks that pauses its audio at once (undone if it was a noise).
    onset_ms: int = Field(default=32, ge=0)
    # Speech shorter than this is not a turn (clicks, coughs).
    min_speech_ms: int = Field(default=160, ge=0)
    # Silence that ends a user turn provisionally; the reply is generated meanwhile. Short:
    # a finished sentence need not wait longer (its transcript is ready ~330 ms after the
    # speech, from the speculative run), and one that sounds unfinished waits for
    # `incomplete_turn_silence_ms` before its reply plays (issue 17).
    end_of_turn_silence_ms: int = Field(default=200, ge=0)
    # When the transcript so far sounds unfinished ("… and"), playout waits for this much
    # silence instead; speech resuming before playout merges into the same turn.
    incomplete_turn_silence_ms: int = Field(default=1500, ge=0)
    semantic_endpointing: bool = True
    # Silence after which the final transcription starts speculatively (hidden in the wait).
    # Two VAD blocks: Whisper's fitted window takes ~270 ms here, so it is done by the end of
    # turn (bench latency v2v p50: 921 ms at 64, 1082 ms at 160).
    speculative_stt_after_ms: int = Field(default=64, ge=0)
    # Voiced speech over the agent beyond which it is an interruption without waiting for
    # words; shorter speech whose words are only a backchannel ("mm-hmm") resumes the agent.
    interruption_speech_ms: int = Field(default=1000, ge=0)
    resume_after_false_interruption: bool = True
    # Interim captions: re-transcribe the growing utterance at most this often (0 = off).
    interim_interval_ms: int = Field(default=1500, ge=0)
    # ... and only once the user has spoken this long. One recognizer serves the session, so
    # an interim still running when a short question ends delays its final transcript: the
    # measured cost was most of a decode (docs/benchmarks.md). Short turns get the final
    # caption about a decode after they end anyway.
    interim_after_ms: int = Field(default=3000, ge=0)
    # Longest utterance kept (older audio is dropped from the turn).
    max_utterance_s: float = Field(default=30.0, gt=0)
    # A released reply whose audio is queued but has played nothing for this long while
    # nobody speaks is stuck (an error event; playout is resumed): never a mute agent.
    reply_stall_ms: int = Field(default=3000, gt=0)


class ServerConfig(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    dev_mode: bool = True
    max_sessions: int = Field(default=8, ge=0)  # 0: every call is refused (503)
    max_sdp_bytes: int = Field(default=64 * 1024, gt=0)
    token_ttl_s: int = Field(default=3600, ge=1, le=86400)
    # Session/token creations per client address: sustained rate and burst.
    rate_limit_per_minute: float = Field(default=60.0, gt=0)
    rate_limit_burst: int = Field(default=20, ge=1)
    secret: str | None = None  # signing key; None = VOXROOM_SECRET or a generated file


_PORT_RANGE = "a UDP port range LOW-HIGH within 1-65535, e.g. 20000-20199"


class RoomsConfig(BaseModel):
    """Rooms: calls with several people and the agent, on the Janus WebRTC server."""

    # "embedded": the server starts and supervises its own Janus on first use (the Debian
    # package `janus`); or the WebSocket API URL of a Janus you run (ws://host:8188); a fleet
    # may name several, comma-separated: rooms go to the least loaded one that answers.
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

    @field_validator("janus")
    @classmethod
    def _janus_url(cls, value: str) -> str:
        urls = [url.strip() for url in value.split(",") if url.strip()]
        if value != "embedded" and not (
            urls and all(url.startswith(("ws://", "wss://")) for url in urls)
        ):
            raise ValueError(
                "'embedded' or the WebSocket URL of a Janus (ws://host:8188), or several "
                "comma-separated"
            )
        return value

    @property
    def janus_urls(self) -> list[str]:
        """The configured Janus servers (empty for the embedded one)."""
        if self.janus == "embedded":
            return []
        return [url.strip() for url in self.janus.split(",") if url.strip()]

    @field_validator("janus_rtp_ports", mode="before")
    @classmethod
    def _split_ports(cls, value: object) -> object:
        if isinstance(value, str):  # from the environment: "20000-20199"
            low, dash, high = (part.strip() for part in value.partition("-"))
            if not (dash and low.isdigit() and high.isdigit()):
                raise ValueError(_PORT_RANGE)
            return (low, high)
        return value

    @field_validator("janus_rtp_ports")
    @classmethod
    def _port_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if not 1 <= low <= high <= 65535:
            raise ValueError(_PORT_RANGE)
        return value


class FleetConfig(BaseModel):
    """The fleet: `voxroom api` nodes hand jobs to `voxroom worker` processes through Redis
    (docs/deploy.md). Unused by `voxroom dev`, which runs everything in one process."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    # Key prefix in Redis: several fleets (or test runs) can share one server.
    namespace: str = Field(default="voxroom", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # A worker's name in Redis, logs and the audit trail; None: <host>-<pid>-<random>.
    worker_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # Sessions one worker runs at once; None: server.max_sessions.
    capacity: int | None = Field(default=None, ge=1)
    # Presence: a worker refreshes its key this often; it expires after three misses.
    heartbeat_s: float = Field(default=1.0, gt=0)
    # A running job's stream entry idle this long means its worker is gone: another worker
    # claims it (XAUTOCLAIM). The owner touches its entries every claim_idle_ms / 4.
    claim_idle_ms: int = Field(default=1500, ge=200)
    # SIGTERM: sessions get this long to finish; rooms still running are then handed to
    # another worker, peer-to-peer calls are ended.
    drain_timeout_s: float = Field(default=30.0, ge=0)
    # Resident memory above this stops the worker taking jobs (None: no limit).
    memory_limit_mb: int | None = Field(default=None, ge=1)
    # The worker's /health, /ready and /metrics port on server.host (0: a free one).
    worker_port: int = Field(default=8090, ge=0, le=65535)
    # How long the API waits for a worker to take a job and answer.
    dispatch_timeout_s: float = Field(default=15.0, gt=0)
    # The agent of rooms created without one (None: the first agent a live worker serves).
    default_agent: str | None = None
    # Janus posts its events to the API with this key (`/api/v1/janus/events?key=`); None:
    # derived from the server secret.
    webhook_key: str | None = None


class VoxroomConfig(BaseModel):
    audit: AuditConfig = Field(default_factory=AuditConfig)
    fleet: FleetConfig = Field(default_factory=FleetConfig)
    rooms: RoomsConfig = Field(default_factory=RoomsConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    transport: TransportConfig = Field(default_factory=TransportConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    turns: TurnConfig = Field(default_factory=TurnConfig)

    @classmethod
    def from_env(cls, config_file: Path | None = None) -> VoxroomConfig:
        """Defaults, overridden by a TOML file (`config_file`, else `VOXROOM_CONFIG`; one
        table per section: `[server]` `port = 8080`), overridden by `VOXROOM_<SECTION>__<FIELD>`
        variables, e.g. `VOXROOM_MODELS__LLM=/models/qwen.gguf`."""
        for key in os.environ:
            if key.startswith("VOXROOM_") and "__" in key:
                section, _, field = key[len("VOXROOM_") :].lower().partition("__")
                _check_setting(cls, section, field, key)
        path = config_file or (Path(p) if (p := os.environ.get(CONFIG_FILE_ENV)) else None)
        if path is not None and not path.is_file():
            raise ConfigError(
                f"config file {path} does not exist: check --config or {CONFIG_FILE_ENV}"
            )
        try:
            if path is not None:  # every name in the file must be a setting, as above
                for section, fields in tomllib.loads(path.read_text()).items():
                    for field in fields if isinstance(fields, dict) else [""]:
                        _check_setting(cls, section, field, f"[{section}] {field} in {path}")
            data = _read_sources(path)
        except (SettingsError, ValueError, OSError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"config file {path} cannot be read: {exc}") from exc
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = dict.fromkeys(_env_problem(error, path) for error in exc.errors())
            raise ConfigError("; ".join(problems)) from exc


CONFIG_FILE_ENV = "VOXROOM_CONFIG"


def _check_setting(config: type[VoxroomConfig], section: str, field: str, name: str) -> None:
    if section not in config.model_fields:
        raise ConfigError(
            f"{name} is not a setting; VOXROOM_<SECTION>__* sections are: "
            + ", ".join(name.upper() for name in config.model_fields)
        )
    fields = _section_fields(config, section)
    if field not in fields:
        raise ConfigError(
            f"{name} is not a setting; VOXROOM_{section.upper()}__* are: "
            + ", ".join(name.upper() for name in fields)
        )


class _Sources(BaseSettings):
    """Raw values per section, as pydantic-settings reads and merges them (environment over
    file); `VoxroomConfig` validates them. Values stay text (`enable_decoding=False`): the
    settings' own validators parse lists and ranges ("127.0.0.1,10.0.0.2", "20000-20199")."""

    model_config = SettingsConfigDict(
        env_prefix="VOXROOM_", env_nested_delimiter="__", enable_decoding=False, extra="ignore"
    )
    audit: dict[str, Any] = Field(default_factory=dict)
    fleet: dict[str, Any] = Field(default_factory=dict)
    rooms: dict[str, Any] = Field(default_factory=dict)
    server: dict[str, Any] = Field(default_factory=dict)
    transport: dict[str, Any] = Field(default_factory=dict)
    models: dict[str, Any] = Field(default_factory=dict)
    turns: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
        if _FILE[0] is not None:
            sources += (TomlConfigSettingsSource(settings_cls, toml_file=_FILE[0]),)
        return sources


_FILE: list[Path | None] = [None]  # the file _Sources reads (pydantic-settings takes a class)


def _read_sources(path: Path | None) -> dict[str, dict[str, Any]]:
    _FILE[0] = path
    try:
        raw = _Sources().model_dump()
    finally:
        _FILE[0] = None
    return {section: values for section, values in raw.items() if values}


def _section_fields(config: type[BaseModel], section: str) -> list[str]:
    annotation = config.model_fields[section].annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _env_problem(error: ErrorDetails, path: Path | None = None) -> str:
    """One pydantic error as VOXROOM_SERVER__PORT='x': Input should be a valid integer (or,
    for a value from the file, as [server] port in <file>: ...)."""
    section, field = (str(part) for part in (*error["loc"], "", "")[:2])
    name = f"VOXROOM_{section.upper()}__{field.upper()}"
    value = os.environ.get(name)
    if value is not None:
        shown = f"{name}={value!r}"
    elif path is not None:
        shown = f"[{section}] {field} in {path}"
    else:
        shown = name
    return f"{shown}: {error['msg'].removeprefix('Value error, ')}"
