"""client.ReceivedAudio: when agent speech started and stopped, as the client saw it."""

from __future__ import annotations

import numpy as np

from voxroom.client import ReceivedAudio

VOICED, QUIET = -20.0, -90.0


def received(frames: list[tuple[float, float]]) -> ReceivedAudio:
    audio = ReceivedAudio()
    for arrived, level in frames:
        audio.chunks.append(np.zeros(960, np.int16))
        audio.times.append(arrived)
        audio.levels.append(level)
    return audio


def test_speech_stops_at_the_last_voiced_frame_before_a_quiet_gap() -> None:
    frames = [(t / 50, VOICED) for t in range(10)] + [(t / 50, QUIET) for t in range(10, 40)]
    assert received(frames).last_speech_before_gap(0.0) == 9 / 50


def test_a_gap_with_no_frames_at_all_counts_as_quiet() -> None:
    """With DTX the agent sends no frames while quiet: the stop is the last voiced frame
    before the gap, not the end of whatever is said after it."""
    stop = [(t / 50, VOICED) for t in range(10)]
    answer = [(2.0 + t / 50, VOICED) for t in range(10)]
    assert received(stop + answer).last_speech_before_gap(0.0) == 9 / 50


def test_no_stop_while_the_agent_is_still_speaking() -> None:
    frames = [(t / 50, VOICED) for t in range(10)]
    assert received(frames).last_speech_before_gap(0.0) is None
