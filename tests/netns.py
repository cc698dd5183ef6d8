"""The tests' own network namespace, and the veth that Janus runs ICE on inside it.

The namespace check and the veth live in `voxroom.bench.netns` (the rooms benchmark needs
them too); here they become fixtures. The veth is created in the test process's namespace,
which must be a private one (run under `unshare -n`, as scripts/test does).
"""

from __future__ import annotations

from collections.abc import Iterator

import aioice.ice
import pytest

from voxroom.bench.netns import VETH, VETH_ADDRESS, VETH_PEER, NotPrivateNamespace, create_veth
from voxroom.transport.webrtc import tuning

__all__ = ["VETH", "VETH_ADDRESS", "VETH_PEER", "ice_on_veth", "veth"]


@pytest.fixture(scope="session")
def veth() -> str:
    """The interface Janus gathers on: `vxa` with 127.0.0.2, in this private namespace."""
    try:
        return create_veth()
    except NotPrivateNamespace as exc:
        pytest.fail(
            "the Janus tests create a veth interface and must run in a private network "
            f"namespace, never the machine's own ({exc}): run them with scripts/test, or "
            "as\n  unshare -n bash -c 'ip link set lo up && exec .venv/bin/pytest -q tests/janus'"
        )


@pytest.fixture
def ice_on_veth(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """aiortc peers gather on 127.0.0.2 for this test; the suite's 127.0.0.1 (tests/conftest)
    comes back after it, as monkeypatch restores aioice's address function."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses", aioice.ice.get_host_addresses)
    tuning.configure_host_addresses([VETH_ADDRESS])
    yield
