"""The fleet's Janus servers: which answer, where a new room goes, and the admin requests
(create, recreate, destroy a VideoRoom) on any of them.

Each API node checks every configured Janus (`info`) every `CHECK_S`; one that does not
answer is marked down in Redis for `DOWN_TTL_S` (every node sees it) and gets no new rooms.
A new room goes to the Janus with the fewest rooms (the registry's per-Janus sets) among
those up; rooms already on a Janus that went down stay there (their agent rejoins when it is
back: `JanusRoomTransport`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from voxroom.config import RoomsConfig
from voxroom.server.janus_service import RoomsUnavailable
from voxroom.transport.janus.api import JanusConnection
from voxroom.transport.janus.errors import JanusConnectionLost, JanusError
from voxroom.transport.janus.videoroom import NO_SUCH_ROOM, RoomSettings, VideoRoomAdmin
from voxroom.worker.keys import Keys

log = logging.getLogger(__name__)

CHECK_S = 1.0
DOWN_TTL_S = 5
PROBE_TIMEOUT_S = 2.0


class JanusPool:
    def __init__(self, config: RoomsConfig, redis: Redis, keys: Keys) -> None:
        self.urls = config.janus_urls
        self._config = config
        self._redis = redis
        self._keys = keys
        self._checker: asyncio.Task[None] | None = None

    def settings(self, janus_id: int, description: str) -> RoomSettings:
        return RoomSettings(
            room=janus_id, description=description[:120], publishers=self._config.max_participants
        )

    # --- health --------------------------------------------------------------------------
    def watch(self) -> None:
        """Check every Janus from now on (an API node does; workers need not)."""
        if self._checker is None and self.urls:
            self._checker = asyncio.create_task(self._check_forever())

    async def close(self) -> None:
        if self._checker is not None:
            self._checker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checker

    async def _check_forever(self) -> None:
        while True:
            await asyncio.gather(*(self.check(url) for url in self.urls))
            await asyncio.sleep(CHECK_S)

    async def check(self, url: str) -> bool:
        """Ask `url` for `info`; mark it down (or up again) for everyone."""
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                async with await JanusConnection.connect(url, request_timeout_s=1.0) as janus:
                    await janus.info()
        except (OSError, TimeoutError, JanusError, JanusConnectionLost, Exception) as exc:
            await self.mark_down(url, str(exc) or type(exc).__name__)
            return False
        await self._redis.delete(self._keys.janus_down(url))
        return True

    async def mark_down(self, url: str, why: str) -> None:
        if not await self._redis.exists(self._keys.janus_down(url)):
            log.warning("Janus %s is down (%s): new rooms go elsewhere", url, why)
        await self._redis.set(self._keys.janus_down(url), why[:200], ex=DOWN_TTL_S)

    async def loads(self) -> dict[str, int | None]:
        """Rooms per Janus; None for one that is down."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for url in self.urls:
                pipe.exists(self._keys.janus_down(url))
                pipe.scard(self._keys.janus_rooms(url))
            answers = await pipe.execute()
        return {
            url: None if answers[2 * i] else int(answers[2 * i + 1])
            for i, url in enumerate(self.urls)
        }

    # --- rooms ---------------------------------------------------------------------------
    async def create_room(self, description: str) -> tuple[str, int]:
        """Create a VideoRoom on the least-loaded Janus that is up (trying the next if it
        fails, marking it down); returns (its URL, the room number)."""
        if not self.urls:
            raise RoomsUnavailable("no Janus configured: set VOXROOM_ROOMS__JANUS to ws:// URLs")
        loads = await self.loads()
        candidates = sorted((n, url) for url, n in loads.items() if n is not None)
        problems = []
        for _, url in candidates:
            janus_id = secrets.randbelow(2**52) + 1  # JavaScript-safe integer
            try:
                settings = self.settings(janus_id, description)
                await self._admin(url, lambda admin: admin.create(settings))  # noqa: B023 (awaited here)
            except (OSError, TimeoutError, JanusError, JanusConnectionLost) as exc:
                problems.append(f"{url}: {exc}")
                await self.mark_down(url, str(exc))
                continue
            return url, janus_id
        detail = "; ".join(problems) or "every configured Janus is marked down"
        raise RoomsUnavailable(f"no Janus could create the room ({detail})")

    async def ensure_room(self, url: str, settings: RoomSettings, janus: JanusConnection) -> None:
        """Recreate the room if it is gone (Janus restarted): an agent's `prepare` hook."""
        session = await janus.create_session()
        try:
            admin = VideoRoomAdmin(await session.attach(), self._config.janus_admin_key)
            if not await admin.exists(settings.room):
                with contextlib.suppress(JanusError):  # ROOM_EXISTS: someone was quicker
                    await admin.create(settings)
        finally:
            await session.destroy()

    async def destroy_room(self, url: str, janus_id: int) -> None:
        try:
            await self._admin(url, lambda admin: admin.destroy(janus_id))
        except JanusError as exc:
            if exc.code != NO_SUCH_ROOM:
                log.warning("Janus %s did not destroy room %d: %s", url, janus_id, exc)
        except (OSError, TimeoutError, JanusConnectionLost) as exc:
            log.warning("Janus %s unreachable, room %d not destroyed: %s", url, janus_id, exc)

    async def _admin(
        self, url: str, request: Callable[[VideoRoomAdmin], Awaitable[object]]
    ) -> None:
        """One admin request on a connection of its own (rooms are created a few times a
        second at most; a connection costs a millisecond on the same network)."""
        async with await JanusConnection.connect(url, request_timeout_s=5.0) as janus:
            session = await janus.create_session()
            admin = VideoRoomAdmin(await session.attach(), self._config.janus_admin_key)
            await request(admin)
