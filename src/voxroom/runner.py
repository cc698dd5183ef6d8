"""Start the dev server for an agent class: `voxroom.run(MyAgent)` or `voxroom dev`."""

from __future__ import annotations

import errno
import importlib
import logging
import socket
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from voxroom.config import VoxroomConfig
from voxroom.logs import setup_logging

if TYPE_CHECKING:
    from voxroom.agent.agent import Agent
    from voxroom.audit.cost import PriceTable
    from voxroom.server.auth import TokenAuthority

DEFAULT_AGENT = "voxroom.apps.assistant:Assistant"
log = logging.getLogger("voxroom")


class StartupError(RuntimeError):
    """The server cannot start as configured; the message says what to change."""


def load_agent_class(spec: str) -> type[Agent]:
    """'package.module:Class', 'file.py:Class', or a shipped agent's name ('browser') → the
    Agent subclass."""
    from voxroom.agent.agent import Agent
    from voxroom.apps import SHIPPED

    module_name, _, class_name = SHIPPED.get(spec, spec).partition(":")
    if not module_name or not class_name:
        raise ValueError(
            f"agent must be 'module:Class', 'file.py:Class' or one of {', '.join(SHIPPED)}; "
            f"got {spec!r}"
        )
    if module_name.endswith(".py"):
        path = Path(module_name).resolve()
        if not path.is_file():
            raise ValueError(f"no such file: {path}")
        sys.path.insert(0, str(path.parent))
        module_name = path.stem
    elif str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    module = importlib.import_module(module_name)
    agent_class = getattr(module, class_name, None)
    if agent_class is None:
        raise ValueError(f"module {module_name!r} has no {class_name!r}")
    if not (isinstance(agent_class, type) and issubclass(agent_class, Agent)):
        raise ValueError(f"{spec} is not a voxroom.Agent subclass")
    return agent_class


def check_startup(config: VoxroomConfig) -> None:
    """What would fail after the models have loaded, checked before they load (seconds):
    the stt/llm/tts entries, the listening address, the folders the server writes."""
    from voxroom.providers.factory import check_model_specs

    check_model_specs(config.models)
    check_listen(config.server.host, config.server.port)
    cache = config.models.cache_dir
    check_writable(cache, "the cache folder", "VOXROOM_CACHE_DIR")
    if config.audit.enabled:
        check_writable(config.audit.audit_dir(cache), "the audit folder", "VOXROOM_AUDIT__DIR")
    price_table(config.audit.prices)
    if config.server.max_sessions == 0:
        log.warning("server.max_sessions is 0: every call will be refused (503)")


def check_listen(host: str, port: int) -> None:
    """Raise StartupError if a server could not listen on host:port (every address it names)."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else exc
        raise StartupError(f"cannot listen on host {host!r}: {reason}; check --host") from exc
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
                probe.listen(1)
            except OSError as exc:
                raise StartupError(_bind_problem(exc, host, port)) from exc


def _bind_problem(exc: OSError, host: str, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is in use: stop what holds it or choose another --port"
    if exc.errno == errno.EACCES:
        return f"no permission to listen on port {port}: choose a port above 1023 with --port"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine: choose another --host"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


def check_writable(folder: Path, what: str, setting: str) -> None:
    """Create `folder` if needed and write a file in it, or raise StartupError naming `setting`."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise StartupError(
            f"{what} {folder} is not writable ({exc.strerror or exc}): "
            f"set {setting} to a folder voxroom can write"
        ) from exc


def price_table(path: Path | None) -> PriceTable:
    """The configured price table (VOXROOM_AUDIT__PRICES), or StartupError saying why not."""
    from pydantic import ValidationError

    from voxroom.audit.cost import PriceTable

    hint = "set VOXROOM_AUDIT__PRICES to a valid price table or unset it"
    try:
        return PriceTable.load(path)
    except OSError as exc:
        raise StartupError(f"price table {path}: {exc.strerror or exc}: {hint}") from exc
    except ValueError as exc:
        reason = " ".join(str(exc).split())
        if isinstance(exc.__cause__, ValidationError):  # its first problem, on one line
            first = exc.__cause__.errors()[0]
            reason = f"price table {path} is not valid: {'.'.join(map(str, first['loc']))}: "
            reason += first["msg"]
        raise StartupError(f"{reason}: {hint}") from exc


def token_authority(config: VoxroomConfig) -> TokenAuthority:
    """The token signer of `voxroom dev` and `voxroom token` (same secret, same machine)."""
    from voxroom.server.auth import TokenAuthority, load_secret

    try:
        secret = load_secret(config.server.secret, config.models.cache_dir)
    except OSError as exc:
        raise StartupError(
            f"cannot create the signing key in {config.models.cache_dir} "
            f"({exc.strerror or exc}): set VOXROOM_SECRET, or VOXROOM_CACHE_DIR to a "
            "writable folder"
        ) from exc
    try:
        return TokenAuthority(secret)
    except ValueError as exc:
        raise StartupError(
            f"{exc}: set VOXROOM_SECRET (or VOXROOM_SERVER__SECRET) to 32 or more bytes"
        ) from exc


def serve(agent_class: type[Agent], config: VoxroomConfig) -> None:
    from aiohttp import web

    from voxroom.providers.factory import load_models
    from voxroom.providers.models import ModelCache
    from voxroom.server.app import create_app
    from voxroom.server.memory import freeze_startup_objects, limit_malloc_arenas

    check_startup(config)
    authority = token_authority(config)
    limit_malloc_arenas()  # before the model pools start their threads
    ModelCache(config.models.cache_dir).prepare_all()
    log.info(
        "loading models (VAD, STT %s, LLM %s, TTS %s)",
        config.models.stt,
        config.models.llm,
        config.models.tts,
    )
    models = load_models(config.models)
    app = create_app(config, models, agent_class, authority)
    freeze_startup_objects()
    host, port = config.server.host, config.server.port
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    if config.server.dev_mode:
        log.info("dev mode: POST /api/v1/tokens issues tokens to loopback clients only")

    async def announce(_: web.Application) -> None:
        print(
            f"voxroom dev: agent {agent_class.name!r} ready at http://{shown}:{port}/", flush=True
        )

    app.on_startup.append(announce)
    web.run_app(app, host=host, port=port, print=None, access_log=None)


def run(agent_class: type[Agent], *, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve `agent_class` in the browser playground, exactly like `voxroom dev --agent`."""
    config = VoxroomConfig.from_env()
    config.server.host, config.server.port = host, port
    setup_logging()
    serve(agent_class, config)
