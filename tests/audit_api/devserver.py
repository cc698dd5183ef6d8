"""The in-process app with seeded sessions, served on loopback from a thread (for the browser).

python -m tests.audit_api.devserver   # serves until Ctrl-C and prints the URL and a token
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from tests.audit_api.conftest import audit_service, build_app, make_config, seed_session, token
from voxroom.bench.harness import free_port
from voxroom.server.audit_api import AUDIT_SCOPE

SESSIONS = [  # id, agent, with recordings
    ("Qx7fK2mR9tLw", "hotel concierge", True),
    ("b3Hn8VpZcY1d", "help desk", True),
    ("T0aWm5sEj4Ug", "hotel concierge", False),
]


@dataclass(frozen=True)
class ViewerServer:
    url: str
    token: str
    files_dir: Path
    session_ids: list[str]


async def _serve(cache_dir: Path, port: int, ready: Future[Path], stop: asyncio.Event) -> None:
    app = build_app(make_config(cache_dir))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        service = audit_service(app)
        for session_id, agent, files in SESSIONS:
            await seed_session(service, session_id, agent=agent, files=files)
            await asyncio.sleep(0.01)
        ready.set_result(service.files_dir)
        await stop.wait()
    except BaseException as exc:
        if not ready.done():
            ready.set_exception(exc)
        raise
    finally:
        await runner.cleanup()


@contextmanager
def viewer_server(cache_dir: Path) -> Iterator[ViewerServer]:
    port = free_port()
    ready: Future[Path] = Future()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(_serve(cache_dir, port, ready, stop))

    thread = threading.Thread(target=run, name="audit-viewer-server", daemon=True)
    thread.start()
    try:
        files_dir = ready.result(timeout=60)
        yield ViewerServer(
            f"http://127.0.0.1:{port}",
            token([AUDIT_SCOPE], ttl_s=3600),
            files_dir,
            [s[0] for s in SESSIONS],
        )
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        loop.close()


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, viewer_server(Path(tmp)) as served:
        print(f"{served.url}/audit/\ntoken: {served.token}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
