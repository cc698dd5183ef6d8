"""The command line's boundary: an operator's mistake is one line on stderr and a non-zero
exit, never a traceback. Usage errors (bad options) are typer's and exit 2; the known failures
below exit 1 (an `OperatorError` may say otherwise). With debug logging on (`voxroom dev -v`)
the traceback is printed first, for whoever debugs it.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

import typer
from pydantic import ValidationError
from typer.core import TyperGroup


class OperatorError(Exception):
    """A mistake in what was asked for; its message says what is wrong and what to do."""

    exit_code = 1


def _known() -> tuple[type[BaseException], ...]:
    # Imported here: the boundary must not make every command load the server or providers.
    from redis.exceptions import RedisError

    from voxroom.audit.store import AuditStoreError
    from voxroom.config import ConfigError
    from voxroom.providers.factory import ModelSpecError, ModelsUnavailable
    from voxroom.runner import StartupError
    from voxroom.server.janus_service import RoomsUnavailable
    from voxroom.worker.local_services import ServiceError

    return (OperatorError, ConfigError, ModelSpecError, ModelsUnavailable, StartupError,
            RoomsUnavailable, AuditStoreError, ValidationError, OSError, ServiceError,
            RedisError)  # fmt: skip


def describe(exc: BaseException) -> str:
    """The one line shown for a known failure."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{exc.title} {where}: {first['msg']}"
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        return f"{exc.strerror}: {exc.filename}"
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def fail(exc: BaseException) -> typer.Exit:
    """Print `exc` as one line (after its traceback when debugging) and return the exit."""
    if logging.getLogger().isEnabledFor(logging.DEBUG):
        traceback.print_exception(exc)
    typer.secho(f"error: {describe(exc)}", err=True, fg="red")
    return typer.Exit(exc.exit_code if isinstance(exc, OperatorError) else 1)


class OperatorErrors(TyperGroup):
    """A command group whose commands' known failures end as one line (`typer.Typer(cls=…)`)."""

    def invoke(self, ctx: Any) -> Any:  # typer's (vendored) click Context
        try:
            return super().invoke(ctx)
        except _known() as exc:  # evaluated only when something was raised
            raise fail(exc) from exc


def check_agent(spec: str) -> str:
    """`--agent` callback: the class must load now (a usage error), not after the models."""
    from voxroom.runner import load_agent_class

    try:
        load_agent_class(spec)
    except (ImportError, ValueError) as exc:
        raise typer.BadParameter(f"cannot load {spec!r}: {exc}") from exc
    return spec
