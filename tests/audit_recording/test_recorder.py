"""Recorder behaviour on short scripted sessions: gaps, bursts, silent peers, threads, failures."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from voxroom.audit import wavfiles
from voxroom.audit.recorder import SessionRecorder

from .synthetic import FakeClock, Marker, Side, marker_offset, play, read_wav

RATE = 16000
DRIFT_STEP = round(0.010 * RATE)  # the most silence a drift correction inserts at once


def user(markers: tuple[Marker, ...] = (), **script: Any) -> Side:
    return Side(16000, 320, stamps_end=True, markers=markers, jitter=(-0.03, 0.03), **script)


def agent(markers: tuple[Marker, ...] = (), **script: Any) -> Side:
    return Side(48000, 960, stamps_end=False, markers=markers, jitter=(0.0, 0.004), **script)


async def record(
    directory: Path, user_side: Side, agent_side: Side, until: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    clock = FakeClock()
    recorder = SessionRecorder(directory, clock=clock)
    play(
        clock,
        {
            "user": (user_side, partial(recorder.inbound, "user")),
            "agent": (agent_side, recorder.outbound),
        },
        until=until,
    )
    recording = await recorder.close()
    return (
        read_wav(recording.user.path)[0][:, 0],
        read_wav(recording.agent.path)[0][:, 0],
        read_wav(recording.stereo.path)[0],
    )


def span(track: np.ndarray, start: float, end: float) -> np.ndarray:
    return track[round(start * RATE) : round(end * RATE)]


def longest_zero_run(samples: np.ndarray) -> int:
    padded = np.concatenate(([1], samples, [1])) == 0
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return int((edges[1::2] - edges[0::2]).max()) if edges.size else 0


async def test_gaps_are_silence_and_audio_after_them_is_on_time(tmp_path: Path) -> None:
    # The user joins at 1 s, stops sending from 4 s to 6 s, and goes quiet for good at 9 s.
    marker = Marker(6.1, 900.0)
    gaps = ((0.0, 1.0), (4.0, 2.0), (9.0, 60.0))
    user_track, _, stereo = await record(tmp_path, user((marker,), gaps=gaps), agent(), 12.0)

    assert user_track.size == 12 * RATE  # a silent peer still leaves a whole-session file
    for start, end in ((0.0, 0.97), (4.03, 5.97), (9.03, 12.0)):
        assert not span(user_track, start, end).any(), (start, end)
    for start, end in ((1.03, 3.97), (6.03, 8.97)):
        assert longest_zero_run(span(user_track, start, end)) <= DRIFT_STEP  # no resync
    assert abs(marker_offset(user_track, RATE, marker)) <= 0.020
    assert np.array_equal(stereo[:, 0], user_track)


async def test_bursts_and_stalls_stay_contiguous(tmp_path: Path) -> None:
    # Late, then all at once: the audio is whole, so no silence may be inserted into it.
    user_marker, agent_marker = Marker(3.1, 700.0), Marker(5.05, 3100.0)
    user_side = user((user_marker,), bursts=((3.0, 0.5), (7.0, 0.25)))
    agent_side = agent((agent_marker,), bursts=((5.0, 0.3),))
    user_track, agent_track, _ = await record(tmp_path, user_side, agent_side, 10.0)

    assert longest_zero_run(span(user_track, 0.05, 9.95)) <= DRIFT_STEP
    assert longest_zero_run(span(agent_track, 0.05, 9.95)) <= DRIFT_STEP
    assert abs(marker_offset(user_track, RATE, user_marker)) <= 0.020
    assert abs(marker_offset(agent_track, RATE, agent_marker)) <= 0.020


async def test_a_silent_peer_is_not_held_in_memory(tmp_path: Path) -> None:
    # Only the agent keeps sending: the user track is filled with silence as time passes,
    # so the stereo file keeps growing on disk instead of waiting for the user in memory.
    clock = FakeClock()
    recorder = SessionRecorder(tmp_path, clock=clock)
    play(
        clock,
        {
            "user": (user(gaps=((2.0, 60.0),)), partial(recorder.inbound, "user")),
            "agent": (agent(), recorder.outbound),
        },
        until=30.0,
    )
    on_disk = await recorder.flush()
    for file in (on_disk.user, on_disk.agent, on_disk.stereo):
        assert file.seconds >= 30.0 - 1.6, file  # idle hold + lookahead + one flush interval
        assert read_wav(file.path)[0].shape[0] == file.frames
    await recorder.close()


class _SpyFile:
    """A file whose every method call is noted with the calling thread."""

    def __init__(self, file: Any, calls: list[tuple[str, int]]) -> None:
        self._file = file
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._file, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self._calls.append((name, threading.get_ident()))
            return attribute(*args, **kwargs)

        return call


def _spy(
    calls: list[tuple[str, int]], name: str, function: Callable[..., Any]
) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        calls.append((name, threading.get_ident()))
        result = function(*args, **kwargs)
        return _SpyFile(result, calls) if name == "open" else result

    return call


async def test_disk_io_never_runs_on_the_loop_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(wavfiles, "open", _spy(calls, "open", open), raising=False)
    monkeypatch.setattr(os, "makedirs", _spy(calls, "makedirs", os.makedirs))
    monkeypatch.setattr(os, "fsync", _spy(calls, "fsync", os.fsync))
    loop_thread = threading.get_ident()

    await record(tmp_path / "session", user((Marker(1.0, 800.0),)), agent(), 5.0)

    names = {name for name, _ in calls}
    assert {"makedirs", "open", "write", "seek", "flush", "fsync", "close"} <= names
    assert all(thread != loop_thread for _, thread in calls)


async def test_live_sessions_share_one_writer_thread(tmp_path: Path) -> None:
    """A writer thread per session was one more thread per session (sessions bench); one thread
    serves them all, and each session's files are still whole and aligned."""
    clock = FakeClock()
    recorders = [SessionRecorder(tmp_path / f"session{n}", clock=clock) for n in range(3)]
    sides: dict[str, tuple[Side, Callable[[np.ndarray, int], None]]] = {}
    for n, recorder in enumerate(recorders):
        sides[f"user{n}"] = (user(), partial(recorder.inbound, "user"))
        sides[f"agent{n}"] = (agent(), recorder.outbound)
    play(clock, sides, until=2.0)
    for recorder in recorders:
        await recorder.flush()

    writers = [t for t in threading.enumerate() if t.name.startswith("voxroom-recorder")]
    assert len(writers) == 1
    for recorder in recorders:
        done = await recorder.close()
        assert done.user.frames == done.agent.frames == done.stereo.frames
        assert abs(done.user.seconds - 2.0) <= 0.020


async def test_close_is_idempotent_and_late_frames_are_ignored(tmp_path: Path) -> None:
    clock = FakeClock()
    recorder = SessionRecorder(tmp_path, clock=clock)
    play(
        clock,
        {
            "user": (user(), partial(recorder.inbound, "user")),
            "agent": (agent(), recorder.outbound),
        },
        until=2.0,
    )
    first = await recorder.close()
    recorder.outbound(np.ones(960, dtype=np.int16), 48000)  # the sink still calls observers
    assert await recorder.close() == first
    assert first.user.frames == first.agent.frames == first.stereo.frames
    assert abs(first.user.seconds - 2.0) <= 0.020


async def test_a_failing_disk_never_breaks_the_observers(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    clock = FakeClock()
    recorder = SessionRecorder(blocker / "session", clock=clock)
    play(
        clock,
        {
            "user": (user(), partial(recorder.inbound, "user")),
            "agent": (agent(), recorder.outbound),
        },
        until=3.0,
    )  # observers keep working; the writer logs its error once
    with pytest.raises(OSError):
        await recorder.close()


async def test_the_last_words_reach_the_disk_when_the_audio_stops(tmp_path: Path) -> None:
    """No chunk comes after a short answer to place and flush it; a process killed in the
    quiet that follows must still leave it on disk (the fleet's killed-worker test)."""
    recorder = SessionRecorder(tmp_path / "session")  # the real clock: timers matter here
    answer = np.full(round(0.3 * RATE), 4000, dtype=np.int16)
    recorder.outbound(answer, RATE)

    await asyncio.sleep(1.5)  # quiet: nothing else observed, nothing flushed by hand

    on_disk = read_wav(tmp_path / "session" / "agent.wav")[0][:, 0]
    assert np.count_nonzero(on_disk == 4000) >= answer.size * 0.9
    await recorder.close()
