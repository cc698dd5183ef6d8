"""A real Janus per test, reachable only inside this test process's own network namespace.

Janus will not run ICE on a loopback interface, so the tests give it a veth pair whose end
`vxa` carries 127.0.0.2/32, and their aiortc peers gather candidates on 127.0.0.2 only. The
veth is created in the test process's namespace, which must be a private one (run under
`unshare -n`, as scripts/test does): it vanishes with the process, and nothing is ever added
to the machine's own network. Traffic stays on 127.0.0.0/8. Run as:

    unshare -n bash -c 'ip link set lo up &&
        exec .venv/bin/pytest -q tests/janus -p no:cacheprovider'
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.netns import VETH, ice_on_veth, veth
from voxroom.transport.janus.api import JanusConnection
from voxroom.transport.janus.config import JanusOptions
from voxroom.transport.janus.process import JanusProcess

__all__ = ["ice_on_veth", "veth"]  # fixtures

API_SECRET = "test-api-secret"
ADMIN_KEY = "test-admin-key"
WS_PORT = 8288  # in the private namespace no other process can hold it


def janus_options(**changes: object) -> JanusOptions:
    settings: dict[str, object] = {
        "ws_port": WS_PORT,
        "rtp_port_range": (20000, 20099),
        "ice_enforce_list": VETH,
        "api_secret": API_SECRET,
        "admin_key": ADMIN_KEY,
        "restart_backoff_s": 0.1,
    }
    settings.update(changes)
    return JanusOptions(**settings)  # type: ignore[arg-type]


@pytest.fixture
async def janus(veth: str, tmp_path: Path) -> AsyncIterator[JanusProcess]:
    process = JanusProcess(tmp_path / "janus", janus_options())
    await process.start()
    yield process
    await process.stop()


@pytest.fixture
async def connection(janus: JanusProcess) -> AsyncIterator[JanusConnection]:
    made = await JanusConnection.connect(janus.url, api_secret=API_SECRET)
    yield made
    await made.close()
