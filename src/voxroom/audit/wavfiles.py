"""The recording's WAV files, written on the recorder's writer thread only.

`user.wav` (the room mix), `agent.wav`, `stereo.wav` (mix left, agent right) and, in rooms
recorded per participant, `participant-<n>-<slug>.wav` each: flat names, as the audit API
serves only plain names of the session folder. Each file is valid after every block: data is
appended, then the header's sizes are rewritten to cover it, so a killed process leaves
playable files up to the last block written. Audio appended after that last rewrite is on disk
but outside the header: `repair_recording` (run by start-up recovery) extends the header over
it.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voxroom.audit.alignment import Blocks
from voxroom.audit.mixdown import RoomMix, StereoFrames, pieces


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

    def write(self, blocks: Blocks) -> None:
        """Append placed blocks, silence included (written a bounded piece at a time)."""
        for piece in pieces(blocks):
            self.append(piece)

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


@dataclass(frozen=True)
class Files:
    """A recording's files: the room mix (`user`), the agent, both side by side (`stereo`),
    and each participant's own file when they are written, in join order. Iterating yields
    them all, the three first."""

    user: RecordedFile
    agent: RecordedFile
    stereo: RecordedFile
    participants: tuple[RecordedFile, ...] = ()

    def __iter__(self) -> Iterator[RecordedFile]:
        yield from (self.user, self.agent, self.stereo, *self.participants)


_FILES = (("user.wav", 1), ("agent.wav", 1), ("stereo.wav", 2))
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_PARTICIPANT = re.compile(r"participant-([0-9]+)(?:-([A-Za-z0-9_-]*))?\.wav")
SLUG_LENGTH = 40


def participant_slug(identity: str) -> str:
    """`identity` as file-name characters: each run of anything but `[A-Za-z0-9_-]` becomes
    one `_`; at most `SLUG_LENGTH` characters."""
    return _UNSAFE.sub("_", identity)[:SLUG_LENGTH]


def participant_file_name(number: int, identity: str) -> str:
    """`participant-<n>-<slug>.wav`, n the join order from 1 (`participant-<n>.wav` for an
    empty identity): a plain name in the session folder, unique by its number."""
    slug = participant_slug(identity)
    return f"participant-{number}-{slug}.wav" if slug else f"participant-{number}.wav"


def parse_participant_file(name: str) -> tuple[int, str] | None:
    """(join number, slug) of a participant file's name; None: not one this module names."""
    match = _PARTICIPANT.fullmatch(name)
    return None if match is None else (int(match[1]), match[2] or "")


@dataclass(frozen=True)
class Batch:
    """Placed audio the recorder hands to the writer thread in one go."""

    agent: Blocks
    participants: dict[str, Blocks]  # identity → its track's new blocks, every participant
    mix_to: int  # every participant's track reaches this far: the room mix is written up to it
    # Participants new since the last batch, in join order → their own file (None: mix only).
    joined: dict[str, str | None] = field(default_factory=dict)


class RecordingFiles:
    """The recording's files in `directory`: everything that touches the disk."""

    def __init__(self, directory: Path, rate: int) -> None:
        self._directory = directory
        self._rate = rate
        self._streams: dict[str, WavStream] = {}  # user.wav, agent.wav, stereo.wav
        self._own: dict[str, WavStream] = {}  # identity → the participant's own file
        self._mix = RoomMix()
        self._stereo = StereoFrames()
        self._error: BaseException | None = None

    def open(self) -> None:
        self._guard(self._open)

    def append(self, batch: Batch) -> Files:
        self._guard(lambda: self._append(batch, final=False))
        return self.files()

    def finalize(self, batch: Batch) -> Files:
        self._guard(lambda: self._append(batch, final=True))
        self._guard(self._close)
        if self._error is not None:
            raise self._error
        return self.files()

    def files(self) -> Files:
        user, agent, stereo = (
            RecordedFile(self._directory / name, channels, self._rate, self._frames(name))
            for name, channels in _FILES
        )
        own = tuple(RecordedFile(s.path, 1, self._rate, s.frames) for s in self._own.values())
        return Files(user, agent, stereo, own)

    def _frames(self, name: str) -> int:
        stream = self._streams.get(name)
        return 0 if stream is None else stream.frames

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
            self._streams[name] = WavStream(self._directory / name, channels, self._rate)

    def _append(self, batch: Batch, final: bool) -> None:
        for identity, name in batch.joined.items():
            self._mix.add(identity)
            if name is not None:
                self._own[identity] = WavStream(self._directory / name, 1, self._rate)
        user, agent, stereo = (self._streams[name] for name, _ in _FILES)
        agent.write(batch.agent)
        for identity, blocks in batch.participants.items():
            self._mix.push(identity, blocks)
            if (own := self._own.get(identity)) is not None:
                own.write(blocks)
        self._stereo.push([], batch.agent)
        for piece in self._mix.take(batch.mix_to):  # piece by piece: memory stays bounded
            user.append(piece)
            self._stereo.push([piece], [])
            for frames in self._stereo.take(final=False):
                stereo.append(frames)
        for frames in self._stereo.take(final):
            stereo.append(frames)
        for stream in self._all():
            stream.sync()

    def _all(self) -> list[WavStream]:
        return [*self._streams.values(), *self._own.values()]

    def _close(self) -> None:
        for stream in self._all():
            stream.close()


class NotARecording(ValueError):
    """A file where a recording should be that this module did not write: left alone."""


def repair_recording(directory: Path, default_rate: int) -> Files | None:
    """Make the WAVs of a recording whose writer was killed cover every whole frame on disk.

    A kill between appending a block and rewriting the sizes leaves audio past the header's
    end (and maybe half a frame, which is cut); a kill before the first block leaves a file
    shorter than its header, which becomes an empty WAV at `default_rate`. Files already
    consistent are not written. The three files are always there afterwards; participant
    files (`participant-*.wav`, mono) are repaired as found, and listed in join order.
    None: `directory` holds no recording."""
    if not directory.is_dir():
        return None
    user, agent, stereo = (
        _repair(directory / name, channels, default_rate) for name, channels in _FILES
    )
    participants = tuple(_repair(path, 1, default_rate) for path in _participant_files(directory))
    return Files(user, agent, stereo, participants)


def _participant_files(directory: Path) -> list[Path]:
    """`participant-*.wav` in join order (names this module did not give: last, by name).
    Symbolic links are left alone: a repair writes only the folder's own files."""
    found = []
    for path in directory.glob("participant-*.wav"):
        if path.is_symlink() or not path.is_file():
            continue
        parsed = parse_participant_file(path.name)
        found.append((parsed is None, parsed[0] if parsed else 0, path.name, path))
    return [path for *_, path in sorted(found)]


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
