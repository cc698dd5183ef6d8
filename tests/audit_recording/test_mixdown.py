"""The writer thread's mixing: silence stays a count, so a late joiner costs no memory."""

from __future__ import annotations

import tracemalloc

import numpy as np

from voxroom.audit.mixdown import PIECE, BlockQueue, RoomMix, StereoFrames, pieces

HOUR = 3600 * 16000


def test_a_queue_splits_blocks_at_any_sample() -> None:
    queue = BlockQueue()
    queue.push([np.arange(1, 6, dtype=np.int16), 3, np.arange(6, 8, dtype=np.int16)])
    assert queue.size == 10
    first, second = queue.pop(4), queue.pop(5)
    assert [list(b) if not isinstance(b, int) else b for b in first] == [[1, 2, 3, 4]]
    assert [list(b) if not isinstance(b, int) else b for b in second] == [[5], 3, [6]]
    assert queue.size == 1


def test_an_hour_of_silence_is_mixed_and_written_without_expanding_it() -> None:
    tracemalloc.start()
    try:
        mix = RoomMix()
        mix.add("alice")
        mix.push("alice", [HOUR])
        assert sum(piece.size for piece in mix.take(HOUR)) == HOUR  # generated piece by piece
        mix.add("bob")  # joins an hour in: his first hour is silence the mix already holds
        voice = np.full(100, 1000, dtype=np.int16)
        mix.push("bob", [HOUR, voice])
        mix.push("alice", [np.full(100, 5, dtype=np.int16)])
        (piece,) = mix.take(HOUR + 100)
        assert np.array_equal(piece, np.full(100, 1005, dtype=np.int16))
        assert sum(p.size for p in pieces([HOUR])) == HOUR
        assert max(p.size for p in pieces([HOUR])) == PIECE
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000  # an hour at 16 kHz would be 115 MB


def test_stereo_frames_wait_for_both_channels_and_pad_at_the_end() -> None:
    stereo = StereoFrames()
    stereo.push([np.array([1, 2, 3], dtype=np.int16)], [np.array([7], dtype=np.int16)])
    assert [f.tolist() for f in stereo.take(final=False)] == [[[1, 7]]]
    stereo.push([], [2])
    assert [f.tolist() for f in stereo.take(final=False)] == [[[2, 0], [3, 0]]]
    stereo.push([np.array([4], dtype=np.int16)], [])
    assert [f.tolist() for f in stereo.take(final=True)] == [[[4, 0]]]
