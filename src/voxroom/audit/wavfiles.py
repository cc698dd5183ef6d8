"""The recording's WAV files, written on the recorder's writer thread only.

Each file is valid after every block: data is appended, then the header's sizes are rewritten
to cover it, so a killed process leaves playable files up to the last block written. Audio
appended after that last rewrite is on disk but outside the header: `repair_recording` (run
by start-up recovery) extends the header over it.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voxroom.audit.alignment import Blocks, join

_EMPTY = np.zeros(0, dtype=np.int16)


@dataclass(frozen=True)
class RecordedFile:
    """One recording file as it stands on disk."""

    path: Path
    channels: int
    sample_rate: int
    frames: int

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")


def _header(channels: int, rate: int, frames: int) -> bytes:
    size = frames * channels * 2
    block = channels * 2
    return _HEADER.pack(
        b"RIFF", 36 + size, b"WAVE", b"fmt ", 16, 1, channels, rate, rate * block, block, 16,
        b"data", size,
    )  # fmt: skip


class WavStream:
    """A 16-bit PCM WAV file that is valid after every `sync` (sizes rewritten in place)."""

    def __init__(self, path: Path, channels: int, rate: int) -> None:
        self.path = path
        self.channels = channels
        self.rate = rate
        self.frames = 0
        self._file = open(path, "w+b")  # kept open for appends; closed by close()
        self._file.write(self._header())

    def _header(self) -> bytes:
        return _header(self.channels, self.rate, self.frames)

    def append(self, pcm: np.ndarray) -> None:
        self._file.write(pcm.astype("<i2", copy=False).tobytes())
        self.frames += pcm.shape[0]

    def sync(self) -> None:
        """Data reaches the OS before the sizes that cover it, so a kill never overstates."""
        self._file.flush()
        self._file.seek(0)
        self._file.write(self._header())
        self._file.seek(0, os.SEEK_END)
        self._file.flush()

    def close(self) -> None:
        self.sync()
        os.fsync(self._file.fileno())
        self._file.close()


Files = tuple[RecordedFile, RecordedFile, RecordedFile]
_FILES = (("user.wav", 1), ("agent.wav", 1), ("stereo.wav", 2))


class RecordingFiles:
    """user.wav, agent.wav and stereo.wav in `directory`: everything that touches the disk."""

    def __init__(self, directory: Path, rate: int) -> None:
        self._directory = directory
        self._rate = rate
        self._streams: list[WavStream] = []
        self._left = _EMPTY  # stereo samples waiting for the other channel
        self._right = _EMPTY
        self._error: BaseException | None = None

    def open(self) -> None:
        self._guard(self._open)

    def append(self, user: Blocks, agent: Blocks) -> Files:
        self._guard(lambda: self._append(join(user), join(agent), final=False))
        return self.files()

    def finalize(self, user: Blocks, agent: Blocks) -> Files:
        self._guard(lambda: self._append(join(user), join(agent), final=True))
        self._guard(self._close)
        if self._error is not None:
            raise self._error
        return self.files()

    def files(self) -> Files:
        frames = {stream.path.name: stream.frames for stream in self._streams}
        user, agent, stereo = (
            RecordedFile(self._directory / name, channels, self._rate, frames.get(name, 0))
            for name, channels in _FILES
        )
        return user, agent, stereo

    def _guard(self, action: Callable[[], None]) -> None:
        # After the first failure (disk full, …) later blocks are dropped: the error is
        # raised once, for the done-callback to log, and again by close().
        if self._error is not None:
            return
        try:
            action()
        except BaseException as error:
            self._error = error
            raise

    def _open(self) -> None:
        os.makedirs(self._directory, exist_ok=True)
        for name, channels in _FILES:
            self._streams.append(WavStream(self._directory / name, channels, self._rate))

    def _append(self, left: np.ndarray, right: np.ndarray, final: bool) -> None:
        user, agent, stereo = self._streams
        user.append(left)
        agent.append(right)
        stereo.append(self._interleave(left, right, final))
        for stream in self._streams:
            stream.sync()

    def _interleave(self, left: np.ndarray, right: np.ndarray, final: bool) -> np.ndarray:
        """Frames both channels have reached (on close: all, the shorter padded)."""
        self._left = np.concatenate((self._left, left))
        self._right = np.concatenate((self._right, right))
        sizes = (self._left.size, self._right.size)
        count = max(sizes) if final else min(sizes)
        frames = np.zeros((count, 2), dtype=np.int16)
        frames[: min(count, sizes[0]), 0] = self._left[:count]
        frames[: min(count, sizes[1]), 1] = self._right[:count]
        self._left, self._right = self._left[count:], self._right[count:]
        return frames

    def _close(self) -> None:
        for stream in self._streams:
            stream.close()


class NotARecording(ValueError):
    """A file where a recording should be that this module did not write: left alone."""


def repair_recording(directory: Path, default_rate: int) -> Files | None:
    """Make the WAVs of a recording whose writer was killed cover every whole frame on disk.

    A kill between appending a block and rewriting the sizes leaves audio past the header's
    end (and maybe half a frame, which is cut); a kill before the first block leaves a file
    shorter than its header, which becomes an empty WAV at `default_rate`. Files already
    consistent are not written. None: `directory` holds no recording."""
    if not directory.is_dir():
        return None
    user, agent, stereo = (
        _repair(directory / name, channels, default_rate) for name, channels in _FILES
    )
    return user, agent, stereo


def _repair(path: Path, channels: int, default_rate: int) -> RecordedFile:
    # Created if missing (a kill while the files were being created): a recording is always
    # the three files. Not O_APPEND: the header is rewritten in place.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        head = os.pread(fd, _HEADER.size, 0)
        size = os.fstat(fd).st_size
        rate = default_rate
        if len(head) == _HEADER.size:
            fields = _HEADER.unpack(head)
            if fields[0] != b"RIFF" or fields[2] != b"WAVE" or fields[11] != b"data":
                raise NotARecording(f"{path} is not a recording's WAV file")
            if fields[6] != channels:
                raise NotARecording(f"{path} has {fields[6]} channels, not {channels}")
            rate = fields[7]
        frames = max(0, size - _HEADER.size) // (channels * 2)
        header = _header(channels, rate, frames)
        end = _HEADER.size + frames * channels * 2
        if head != header or size != end:
            os.ftruncate(fd, end)
            os.pwrite(fd, header, 0)
            os.fsync(fd)
    finally:
        os.close(fd)
    return RecordedFile(path, channels, rate, frames)
