"""The Janus this server puts its rooms on: a supervised child process of its own (the
embedded default, started on first use) or one the operator runs, reached by URL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import socket
import tempfile
from pathlib import Path

from voxroom.config import RoomsConfig
from voxroom.transport.janus.api import JanusConnection, JanusHandle, JanusSession
from voxroom.transport.janus.config import JanusInstallation, JanusOptions
from voxroom.transport.janus.errors import (
    JanusConnectionLost,
    JanusError,
    JanusNotInstalled,
    JanusStartError,
    NoInterfaceError,
)
from voxroom.transport.janus.process import JanusProcess
from voxroom.transport.janus.videoroom import (
    NO_SUCH_ROOM,
    ROOM_EXISTS,
    RoomSettings,
    VideoRoomAdmin,
)

log = logging.getLogger(__name__)


class RoomsUnavailable(RuntimeError):
    """Rooms cannot work here; the message says what is missing (answered with a 503)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class JanusService:
    def __init__(self, config: RoomsConfig) -> None:
        self._config = config
        self.embedded = config.janus == "embedded"
        # The embedded Janus gets a fresh admin key per run unless one is configured.
        self.admin_key = config.janus_admin_key or (
            secrets.token_urlsafe(16) if self.embedded else None
        )
        self._process: JanusProcess | None = None
        self._folder: Path | None = None
        # `voxroom dev` uses the first of several configured (a fleet's API places rooms on
        # all of them: `worker.janus_pool`).
        self._url: str | None = None if self.embedded else config.janus_urls[0]
        self._admin: tuple[JanusConnection, JanusSession, VideoRoomAdmin] | None = None
        self._lock = asyncio.Lock()

    def problem(self) -> str | None:
        """Why rooms cannot work here (checked at start-up, to say so early), or None."""
        if not self.embedded:
            return None
        try:
            JanusInstallation.find()
        except JanusNotInstalled as exc:
            return f"rooms need the Janus WebRTC server: {exc}"
        return None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RoomsUnavailable("Janus is not started")
        return self._url

    @property
    def process(self) -> JanusProcess | None:
        return self._process

    async def ready(self) -> None:
        """Start the embedded Janus if it is not running yet (raises RoomsUnavailable)."""
        async with self._lock:
            if self._url is not None:
                return
            self._folder = Path(tempfile.mkdtemp(prefix="voxroom-janus-"))
            options = JanusOptions(
                ws_port=self._config.janus_ws_port or _free_port(),
                rtp_port_range=self._config.janus_rtp_ports,
                ice_enforce_list=self._config.janus_ice_interface,
                admin_key=self.admin_key,
            )
            process = JanusProcess(self._folder, options)
            try:
                await process.start()
            except (JanusNotInstalled, NoInterfaceError, JanusStartError) as exc:
                raise RoomsUnavailable(f"rooms need the Janus WebRTC server: {exc}") from exc
            log.info("Janus started (ICE on %s): %s", process.interface, process.url)
            self._process = process
            self._url = process.url

    async def _videoroom(self) -> VideoRoomAdmin:
        """The admin handle, reconnected if Janus restarted since it was last used."""
        await self.ready()
        if self._admin is not None and not self._admin[1].closed.is_set():
            return self._admin[2]
        if self._admin is not None:
            await self._admin[0].close()
        connection = await JanusConnection.connect(self.url)
        session = await connection.create_session()
        handle: JanusHandle = await session.attach()
        admin = VideoRoomAdmin(handle, self.admin_key)
        self._admin = (connection, session, admin)
        return admin

    def settings(self, room: int, description: str) -> RoomSettings:
        return RoomSettings(
            room=room, description=description[:120], publishers=self._config.max_participants
        )

    async def create_room(self, settings: RoomSettings) -> None:
        try:
            await (await self._videoroom()).create(settings)
        except (JanusError, JanusConnectionLost, OSError) as exc:
            raise RoomsUnavailable(f"Janus did not create the room: {exc}") from exc

    async def ensure_room(self, settings: RoomSettings, connection: JanusConnection) -> None:
        """Recreate the room if it is gone (Janus restarted): an agent's `prepare` hook."""
        session = await connection.create_session()
        try:
            admin = VideoRoomAdmin(await session.attach(), self.admin_key)
            if not await admin.exists(settings.room):
                with contextlib.suppress(JanusError):  # ROOM_EXISTS: someone was quicker
                    await admin.create(settings)
        finally:
            await session.destroy()

    async def destroy_room(self, room: int) -> None:
        try:
            await (await self._videoroom()).destroy(room)
        except JanusError as exc:
            if exc.code not in (NO_SUCH_ROOM, ROOM_EXISTS):
                log.warning("Janus did not destroy room %d: %s", room, exc)
        except (JanusConnectionLost, OSError, RoomsUnavailable) as exc:
            log.warning("Janus unreachable, room %d not destroyed: %s", room, exc)

    async def close(self) -> None:
        if self._admin is not None:
            await self._admin[0].close()
            self._admin = None
        if self._process is not None:
            await self._process.stop()
            self._process = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
