"""Combining placed tracks on the recorder's writer thread: the room mix and the stereo frames.

Tracks arrive as `Blocks` (audio arrays, silence as sample counts). Nothing here expands more
than `PIECE` samples at once, so however much silence a track holds (a participant who joins
an hour in starts with an hour of it) it costs no memory. No I/O here: `wavfiles` writes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import numpy as np

from voxroom.audit.alignment import Blocks

PIECE = 16384  # samples (or stereo frames) expanded at once, at most
_SILENCE = np.zeros(PIECE, dtype=np.int16)
_SILENCE.flags.writeable = False


class BlockQueue:
    """One track's placed samples not consumed yet: arrays, and silence as counts."""

    def __init__(self, discard: int = 0) -> None:
        self.size = 0
        self._blocks: deque[np.ndarray | int] = deque()
        self._discard = discard  # samples still to drop as they arrive

    def push(self, blocks: Blocks) -> None:
        for block in blocks:
            size = block if isinstance(block, int) else block.size
            if size:
                self._blocks.append(block)
                self.size += size
        if self._discard:
            dropped = min(self._discard, self.size)
            self.pop(dropped)
            self._discard -= dropped

    def pad_to(self, size: int) -> None:
        if size > self.size:
            self.push([size - self.size])

    def pop(self, count: int) -> Blocks:
        """The first `count` samples (no more than `size`), splitting a block if need be."""
        if count > self.size:
            raise ValueError(f"{count} samples asked of a queue holding {self.size}")
        taken: Blocks = []
        self.size -= count
        while count:
            head = self._blocks[0]
            size = head if isinstance(head, int) else head.size
            if size <= count:
                taken.append(self._blocks.popleft())
                count -= size
            elif isinstance(head, int):
                taken.append(count)
                self._blocks[0] = head - count
                count = 0
            else:
                taken.append(head[:count])
                self._blocks[0] = head[count:]
                count = 0
        return taken


def pieces(blocks: Blocks) -> Iterator[np.ndarray]:
    """The blocks as arrays to write: audio as it is, silence in pieces of one shared array."""
    for block in blocks:
        if not isinstance(block, int):
            yield block
            continue
        while block > 0:
            yield _SILENCE[: min(block, PIECE)]
            block -= PIECE


def _copy_into(out: np.ndarray, blocks: Blocks) -> None:
    """`out` (zeros) gets the blocks' audio at its positions."""
    position = 0
    for block in blocks:
        if isinstance(block, int):
            position += block
        else:
            out[position : position + block.size] = block
            position += block.size


def _add_into(out: np.ndarray, blocks: Blocks) -> None:
    position = 0
    for block in blocks:
        if isinstance(block, int):
            position += block
        else:
            out[position : position + block.size] += block
            position += block.size


class RoomMix:
    """The participants' tracks summed and clipped to int16: the samples of `user.wav`.

    Every track is on the session clock from position 0. One that is `add`ed once the mix is
    under way starts with silence up to the mix's `position` (the recorder pads it so): those
    samples are dropped, the mix already holds the silence they are."""

    def __init__(self) -> None:
        self.position = 0
        self._tracks: dict[str, BlockQueue] = {}

    def add(self, key: str) -> None:
        self._tracks[key] = BlockQueue(discard=self.position)

    def push(self, key: str, blocks: Blocks) -> None:
        self._tracks[key].push(blocks)

    def take(self, until: int) -> Iterator[np.ndarray]:
        """The mix up to `until`, in pieces; every track must hold that much (with none: the
        room is empty, silence)."""
        while self.position < until:
            count = min(PIECE, until - self.position)
            tracks = list(self._tracks.values())
            if len(tracks) == 1:  # one participant: exactly their audio
                piece = np.zeros(count, dtype=np.int16)
                _copy_into(piece, tracks[0].pop(count))
            else:
                total = np.zeros(count, dtype=np.int32)
                for track in tracks:
                    _add_into(total, track.pop(count))
                piece = np.clip(total, -32768, 32767).astype(np.int16)
            self.position += count
            yield piece


class StereoFrames:
    """Two mono tracks as interleaved frames, up to where both channels have reached."""

    def __init__(self) -> None:
        self._left = BlockQueue()
        self._right = BlockQueue()

    def push(self, left: Blocks, right: Blocks) -> None:
        self._left.push(left)
        self._right.push(right)

    def take(self, final: bool) -> Iterator[np.ndarray]:
        """Frames (n, 2) in pieces; `final`: all of them, the shorter channel padded."""
        if final:
            longest = max(self._left.size, self._right.size)
            self._left.pad_to(longest)
            self._right.pad_to(longest)
        remaining = min(self._left.size, self._right.size)
        while remaining:
            count = min(PIECE, remaining)
            frames = np.zeros((count, 2), dtype=np.int16)
            _copy_into(frames[:, 0], self._left.pop(count))
            _copy_into(frames[:, 1], self._right.pop(count))
            remaining -= count
            yield frames
