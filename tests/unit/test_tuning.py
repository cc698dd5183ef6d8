"""transport/p2p/tuning.py: process-wide aiortc/aioice adjustments."""

from __future__ import annotations

import aioice.ice
import av
import numpy as np
import pytest
from aiortc import rtp

from voxroom.transport.p2p import tuning


@pytest.fixture(autouse=True)
def restore_host_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    # Whatever a test installs, put back what was there (conftest: 127.0.0.1 only).
    monkeypatch.setattr(aioice.ice, "get_host_addresses", aioice.ice.get_host_addresses)


@pytest.mark.parametrize("amplitude", [0.0, 0.001, 0.03, 0.25, 0.7, 1.0])
def test_numpy_audio_level_matches_aiortc(amplitude: float) -> None:
    rng = np.random.default_rng(7)
    samples = (amplitude * 32767 * rng.uniform(-1, 1, 960)).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = 48000

    assert tuning._numpy_audio_level(frame) == rtp.compute_audio_level_dbov(frame)


def test_fixed_host_addresses_are_split_by_family() -> None:
    tuning.configure_host_addresses(["127.0.0.1", "::1", "10.1.2.3"])

    assert aioice.ice.get_host_addresses(True, False) == ["127.0.0.1", "10.1.2.3"]
    assert aioice.ice.get_host_addresses(False, True) == ["::1"]
    assert aioice.ice.get_host_addresses(True, True) == ["127.0.0.1", "::1", "10.1.2.3"]


def test_default_host_addresses_add_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tuning, "_original_get_host_addresses", lambda v4, v6: ["192.0.2.1"])
    tuning.configure_host_addresses(None)

    assert aioice.ice.get_host_addresses(True, False) == ["192.0.2.1", "127.0.0.1"]
    assert aioice.ice.get_host_addresses(False, True) == ["192.0.2.1"]


def test_shallow_jitter_buffer_caps_audio_prefetch_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(tuning._settings, "prefetch", 1)

    audio = tuning.ShallowJitterBuffer(capacity=16, prefetch=4)
    video = tuning.ShallowJitterBuffer(capacity=128, prefetch=4, is_video=True)

    assert audio._prefetch == 1
    assert video._prefetch == 4
