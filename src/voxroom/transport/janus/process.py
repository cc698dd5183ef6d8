"""Janus as a supervised child process, run from a config folder of its own.

`start()` writes the folder (see `config`), launches `janus -F <folder> -C <folder>/janus.jcfg`
with its output appended to `<folder>/janus.log`, and returns once the WebSocket API answers
`info` from this very process (the server name carries a random instance id, so another Janus
already on the port is reported instead of mistaken for ours). From then on, if the child
exits without `stop()` asking, it is restarted with exponential backoff and every `on_restart`
callback is called once the new one answers. Janus keeps no state across a restart: rooms,
sessions and PeerConnections are gone, and every `JanusConnection` to the old process has
already seen its `closed` event; callbacks are where agents learn they can rejoin.

Where util-linux's `setpriv` exists the child is started through it with a parent-death
signal, so a crashed or killed voxroom does not leave an orphan Janus holding the port (the
signal follows the thread that started the child: the event loop's).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import signal
from collections import deque
from collections.abc import Callable
from pathlib import Path

import aiohttp

from voxroom.transport.janus.api import JanusConnection
from voxroom.transport.janus.config import (
    JanusInstallation,
    JanusOptions,
    check_enforce_list,
    pick_interface,
    write_config,
)
from voxroom.transport.janus.errors import JanusError, JanusStartError

log = logging.getLogger(__name__)

RestartCallback = Callable[[], None]
LOG_TAIL_LINES = 30
_PROBE_INTERVAL_S = 0.05


class JanusProcess:
    """One Janus child process. `folder` is voxroom's own (a temp dir will do): the config
    and the log are written there, never to /etc/janus."""

    def __init__(self, folder: Path, options: JanusOptions | None = None) -> None:
        self.folder = folder
        self.options = options or JanusOptions()
        self.log_path = folder / "janus.log"
        self.interface: str | None = None  # the interface Janus gathers on, once started
        self.restarts = 0
        self._instance = f"voxroom-{secrets.token_hex(4)}"
        self._callbacks: list[RestartCallback] = []
        self._child: asyncio.subprocess.Process | None = None
        self._command: list[str] = []
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def url(self) -> str:
        """The WebSocket API (`janus-protocol`), on 127.0.0.1 only."""
        return f"ws://127.0.0.1:{self.options.ws_port}"

    @property
    def instance(self) -> str:
        """This process's Janus server name: `info`'s `server-name`, and the `emitter` of
        every event it posts to the webhook (a random id, new per JanusProcess)."""
        return self._instance

    @property
    def pid(self) -> int | None:
        """The running child's pid (None before start, after stop, and between restarts)."""
        child = self._child
        return child.pid if child is not None and child.returncode is None else None

    def on_restart(self, callback: RestartCallback) -> None:
        """Call `callback` (on the loop) each time a restarted Janus answers again. Keep it
        short: start the rejoin in a task its owner awaits, or set an event it waits on."""
        self._callbacks.append(callback)

    async def __aenter__(self) -> JanusProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Write the config, launch Janus and wait until it answers; then supervise it.

        Raises `JanusNotInstalled`, `NoInterfaceError` (none to pick, or `ice_enforce_list`
        names none that exists), or `JanusStartError` (with the log's tail) if Janus exited
        or did not answer within `start_timeout_s`."""
        if self._supervisor is not None:
            raise RuntimeError("this JanusProcess is already started")
        installation = JanusInstallation.find(self.options.executable, self.options.lib_dir)
        self.interface = self.options.ice_enforce_list or pick_interface()
        check_enforce_list(self.interface)
        # The instance id in the server name is how `_wait_ready` knows who answers.
        config = write_config(
            self.folder, self.options, installation, self.interface, self._instance
        )
        command = [str(installation.executable), "-F", str(self.folder), "-C", str(config)]
        setpriv = shutil.which("setpriv")
        self._command = [setpriv, "--pdeathsig", "KILL", "--", *command] if setpriv else command
        self._stopping = False
        await self._launch()
        self._supervisor = asyncio.ensure_future(self._supervise())

    async def stop(self) -> None:
        """Stop supervising, then end Janus: SIGTERM, SIGKILL after `stop_timeout_s`."""
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        await self._end_child()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            with self.log_path.open(errors="replace") as file:
                return "".join(deque(file, maxlen=lines))
        except FileNotFoundError:
            return "(no log)"

    # --- internals -----------------------------------------------------------------------
    async def _launch(self) -> None:
        """Spawn the child and wait for its `info`; on failure end it and raise."""
        with self.log_path.open("ab") as log_file:  # the child keeps its own descriptor
            log_file.write(f"--- voxroom: {' '.join(self._command)}\n".encode())
            log_file.flush()
            try:
                self._child = await asyncio.create_subprocess_exec(
                    *self._command,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,  # a Ctrl-C in a terminal is voxroom's to handle
                )
            except OSError as exc:  # not executable, not a binary for this machine, ...
                raise JanusStartError(f"cannot run {' '.join(self._command)}: {exc}") from exc
        try:
            await self._wait_ready(self._child)
        except BaseException:
            await self._end_child()
            raise
        log.info("Janus %s (pid %d) answers at %s", self._instance, self._child.pid, self.url)

    async def _wait_ready(self, child: asyncio.subprocess.Process) -> None:
        deadline = asyncio.get_running_loop().time() + self.options.start_timeout_s
        while True:
            if child.returncode is not None:
                raise JanusStartError(
                    f"janus exited with code {child.returncode} while starting; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            name = await self._probe()
            if name == self._instance:
                return
            if name is not None:
                raise JanusStartError(
                    f"port {self.options.ws_port} answers as {name!r}, not as the Janus just "
                    f"started ({self._instance!r}): another Janus holds the port"
                )
            if asyncio.get_running_loop().time() > deadline:
                raise JanusStartError(
                    f"janus did not answer at {self.url} within {self.options.start_timeout_s} s"
                    f"; log {self.log_path}:\n{self.log_tail()}"
                )
            await asyncio.sleep(_PROBE_INTERVAL_S)

    async def _probe(self) -> str | None:
        """The server name that answers `info` on our port; None if nothing answers yet."""
        try:
            connection = await JanusConnection.connect(self.url, request_timeout_s=1.0)
        except (OSError, aiohttp.ClientError, TimeoutError):
            return None
        try:
            info = await connection.info()
        except (JanusError, ConnectionError, TimeoutError):
            return None
        finally:
            await connection.close()
        return str(info.get("server-name"))

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = self.options.restart_backoff_s
        while True:
            child = self._child
            assert child is not None
            started = loop.time()
            code = await child.wait()
            if self._stopping:
                return
            if loop.time() - started >= self.options.stable_after_s:
                backoff = self.options.restart_backoff_s
            log.warning(
                "janus exited unexpectedly (code %s): restarting in %.1f s; log %s:\n%s",
                code, backoff, self.log_path, self.log_tail(10),
            )  # fmt: skip
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.options.restart_backoff_max_s)
            try:
                await self._launch()
            except JanusStartError as exc:  # the child is ended: wait() returns at once
                log.error("restarting janus failed: %s", exc)
                continue
            self.restarts += 1
            for callback in list(self._callbacks):
                try:
                    callback()
                except Exception:
                    log.exception("a Janus on_restart callback failed")

    async def _end_child(self) -> None:
        child = self._child
        if child is None or child.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(self.options.stop_timeout_s):
                await child.wait()
        except TimeoutError:
            log.warning("janus ignored SIGTERM for %.0f s: killing it", self.options.stop_timeout_s)
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            await child.wait()
