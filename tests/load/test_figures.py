"""bench sessions/soak arithmetic on made-up measurements, and the load client's noise (fast)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from aiortc.jitterbuffer import JitterFrame

from voxroom.bench.load import FrameCounter, log_errors, slope
from voxroom.bench.noise import NOISE_DBFS, RepeatingFramesEncoder, noise_loop
from voxroom.bench.sessions import _step_figures, _summarize
from voxroom.media.audio import rms_dbfs
from voxroom.transport.webrtc.opus import MonoOpusDecoder
from voxroom.transport.webrtc.outbound import FRAME_SAMPLES


def _session(fps: float = 50.0, lost: int = 0, late_ms: float = 10.0) -> dict[str, Any]:
    frames = int(fps * 8)
    return {
        "seconds": 8.0,
        "frames": frames,
        "fps": fps,
        "max_gap_ms": 30.0,
        "max_late_ms": late_ms,
        "in_lost": lost,
        "in_expected": 400,
        "out_lost": 0,
        "out_sent": 400,
        "server_jitter_ms": 1.0,
        "agent_messages": 0,
    }


def _step(
    n: int,
    server: float,
    rss: float,
    fps: float = 50.0,
    machine: float = 100.0,
    late_ms: float = 10.0,
) -> Any:
    return _step_figures(
        n,
        [_session(fps, late_ms=late_ms) for _ in range(n)],
        server_pct=server,
        loop_pct=server * 0.6,
        client_pct=n * 5.0,
        machine_pct=machine,
        rss_mb=rss,
        fds=16 + 5 * n,
        threads=8 + n,
        dtx=fps < 10,
    )


def test_a_step_holds_only_in_real_time_without_loss() -> None:
    assert _step(4, 40, 700)["holds"]
    slow = _step(4, 40, 700, fps=48.0)
    assert not slow["holds"] and "frames/s" in slow["reasons"][0]
    catching_up = _step(4, 40, 700, fps=53.0)  # frames that were late arrive in a burst
    assert not catching_up["holds"] and "late" in catching_up["reasons"][0]
    stalled = _step(4, 40, 700, late_ms=150.0)  # the right count, but some came late
    assert not stalled["holds"] and "150 ms late" in stalled["reasons"][0]
    # With DTX an idle agent sends 2.5 keep-alives a second: that rate, on time, holds.
    assert _step(4, 40, 700, fps=2.5)["holds"]
    assert not _step(4, 40, 700, fps=2.0)["holds"]
    assert not _step(4, 40, 700, fps=2.5, late_ms=120.0)["holds"]
    lossy = _step_figures(
        2,
        [_session(), _session(lost=20)],
        server_pct=20,
        loop_pct=12,
        client_pct=10,
        machine_pct=50,
        rss_mb=700,
        fds=30,
        threads=10,
        dtx=False,
    )
    assert not lossy["holds"] and "packet loss" in lossy["reasons"][0]
    saturated_loop = _step_figures(
        8,
        [_session() for _ in range(8)],
        server_pct=130,
        loop_pct=97,
        client_pct=40,
        machine_pct=180,
        rss_mb=720,
        fds=60,
        threads=20,
        dtx=False,
    )
    assert not saturated_loop["holds"] and "event loop" in saturated_loop["reasons"][0]
    missing = _step_figures(
        3,
        [_session(), _session()],
        server_pct=20,
        loop_pct=12,
        client_pct=10,
        machine_pct=50,
        rss_mb=700,
        fds=30,
        threads=10,
        dtx=False,
    )
    assert not missing["holds"] and "missing" in missing["reasons"][0]
    behind = _step_figures(
        2,
        [_session(), _session()],  # the agent's output is still paced at 50/s
        server_pct=90,
        loop_pct=80,
        client_pct=10,
        machine_pct=120,
        rss_mb=900,
        fds=30,
        threads=10,
        backlog_frames=40,
        dtx=False,
    )
    assert not behind["holds"] and "backlog" in behind["reasons"][0]
    assert behind["inbound_backlog_frames_max"] == 40


def test_summary_slopes_and_sessions_per_core() -> None:
    baseline = _step(0, 0.0, 680.0)
    steps = [_step(n, 5.0 * n, 680.0 + 3.0 * n) for n in (1, 2, 4, 8, 12)]
    steps.append(_step(16, 95.0, 740.0, fps=40.0, machine=199.0))
    summary = _summarize(baseline, steps, cap_reached=False)
    assert summary["max_sessions_held"] == 12
    assert summary["idle_cpu_pct_per_session"] == pytest.approx(5.0)
    assert summary["mem_mb_per_session"] == pytest.approx(3.0)
    assert summary["sessions_per_core"] == 12.0  # 12 sessions on 0.6 of a core: max(1, 0.6)
    assert summary["limited_by"] == "machine"
    assert summary["projected_sessions_per_core"] == 19


def test_sessions_per_core_divides_by_the_cores_used() -> None:
    baseline = _step(0, 0.0, 680.0)
    steps = [_step(n, 10.0 * n, 680.0 + 2.0 * n) for n in (1, 2, 4, 8, 12, 15)]
    summary = _summarize(baseline, steps, cap_reached=True)
    assert summary["server_cores_at_max"] == 1.5  # aiortc's codec threads: over one core
    assert summary["sessions_per_core"] == 10.0  # 15 sessions on 1.5 cores
    assert summary["limited_by"] == "cap"


def test_frame_counter_and_slope() -> None:
    counter = FrameCounter()
    for t in (1.0, 1.02, 1.04, 1.2):
        counter.arrived(t)
    assert counter.frames == 4 and counter.max_gap_s == pytest.approx(0.16)
    assert counter.max_late_s == 0.0  # no timestamps, no lateness

    timed = FrameCounter()
    wrap = 2**32 - 960  # the RTP clock wraps between the first two frames
    # Arrival vs timestamp: on time, on time, 30 ms late, then a DTX gap (400 ms) on time.
    arrivals = [(5.0, wrap), (5.02, wrap + 960), (5.07, wrap + 1920), (5.42, wrap + 20160)]
    for at, pts in arrivals:
        timed.arrived(at, pts % 2**32)
    assert timed.max_late_s == pytest.approx(0.03)
    timed.new_window()
    timed.arrived(5.44, (wrap + 21120) % 2**32)
    assert timed.max_late_s == pytest.approx(0.0, abs=1e-9)
    assert slope([0, 1, 2], [1.0, 3.0, 5.0]) == pytest.approx(2.0)
    assert slope([1, 1], [1.0, 2.0]) is None


def test_server_log_errors_come_with_their_tracebacks() -> None:
    log = "\n".join(
        [
            "2026-11-22 06:00:00,000 INFO voxroom.server.sessions: session a started (1 live)",
            "voxroom dev: agent 'x' ready at http://127.0.0.1:1/",
            "2026-11-22 06:00:01,000 ERROR asyncio: Task exception was never retrieved",
            "Traceback (most recent call last):",
            "ConnectionError: gone",
            "2026-11-22 06:00:02,000 INFO voxroom.server.sessions: session a ended (0 live)",
            "Exception in thread Thread-3:",
            "Traceback (most recent call last):",
            "RuntimeError: boom",
        ]
    )
    errors = log_errors(log)
    assert len(errors) == 2
    assert errors[0].startswith("2026-11-22 06:00:01,000 ERROR") and "ConnectionError" in errors[0]
    assert errors[1].startswith("Exception in thread") and "RuntimeError" in errors[1]


def test_the_load_clients_noise_loop_is_encoded_once_and_decodes_as_noise() -> None:
    noise = noise_loop(NOISE_DBFS)
    encoder = RepeatingFramesEncoder(noise)
    decoder = MonoOpusDecoder()
    frames = noise.reshape(-1, FRAME_SAMPLES)
    sent = [encoder.encode(frame, silent=False) for _ in range(2) for frame in frames]

    assert all(packet is not None for packet in sent)
    assert len(set(sent)) == len(frames)  # each frame's one packet, the same every loop
    decoded = np.concatenate(
        [
            frame.to_ndarray().reshape(-1)
            for index, packet in enumerate(sent)
            for frame in decoder.decode(JitterFrame(data=packet, timestamp=index * 960))
        ]
    )
    assert abs(rms_dbfs(decoded[FRAME_SAMPLES:]) - NOISE_DBFS) < 3  # quiet noise, not silence
    speech = (np.sin(np.arange(FRAME_SAMPLES) / 10) * 8000).astype(np.int16)
    assert encoder.encode(speech, silent=False) not in sent  # other audio is encoded as usual
