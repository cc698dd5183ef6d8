"""Start the dev server for an agent class: `voxroom.run(MyAgent)` or `voxroom dev`."""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from voxroom.config import VoxroomConfig

if TYPE_CHECKING:
    from voxroom.agent.agent import Agent

DEFAULT_AGENT = "voxroom.apps.assistant:Assistant"
log = logging.getLogger("voxroom")


def load_agent_class(spec: str) -> type[Agent]:
    """'package.module:Class' (or 'file.py:Class') → the Agent subclass."""
    from voxroom.agent.agent import Agent

    module_name, _, class_name = spec.partition(":")
    if not class_name:
        raise ValueError(f"agent must be 'module:Class', got {spec!r}")
    if module_name.endswith(".py"):
        path = Path(module_name).resolve()
        sys.path.insert(0, str(path.parent))
        module_name = path.stem
    elif str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    module = importlib.import_module(module_name)
    agent_class = getattr(module, class_name, None)
    if not (isinstance(agent_class, type) and issubclass(agent_class, Agent)):
        raise ValueError(f"{spec} is not a voxroom.Agent subclass")
    return agent_class


def serve(agent_class: type[Agent], config: VoxroomConfig) -> None:
    from aiohttp import web

    from voxroom.providers.factory import load_models
    from voxroom.providers.models import ModelCache
    from voxroom.server.app import create_app
    from voxroom.server.auth import TokenAuthority, load_secret
    from voxroom.server.memory import limit_malloc_arenas

    limit_malloc_arenas()  # before the model pools start their threads
    ModelCache(config.models.cache_dir).prepare_all()
    log.info(
        "loading models (VAD, STT %s, LLM %s, TTS %s)",
        config.models.stt,
        config.models.llm,
        config.models.tts,
    )
    models = load_models(config.models)
    authority = TokenAuthority(load_secret(config.server.secret, config.models.cache_dir))
    app = create_app(config, models, agent_class, authority)
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
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    serve(agent_class, config)
