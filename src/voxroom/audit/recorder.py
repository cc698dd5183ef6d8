"""Session recordings: the room, the agent and both in stereo, on disk on the session clock.

Files per session, 16-bit PCM at one rate (16 kHz by default): `user.wav` (the room mix: every
participant's audio summed, clipped to int16; with one participant exactly theirs),
`agent.wav` (outbound audio, silence included) and `stereo.wav` (the mix left, the agent
right). Recorded `per_participant` (rooms), each participant's own track is also written to
`participant-<n>-<slug>.wav` (n: the order in which their audio first reached the recorder,
from 1; see `wavfiles.participant_file_name`). The observers run on the event loop and only
resample, stamp and place chunks; placed audio goes in ~0.5 s blocks to the process's one
recording writer thread, which mixes and appends it and rewrites the WAV sizes after every
block, so a killed process leaves valid files up to the last flush. Nothing longer than about
a second is held in memory, silence included (it travels as sample counts).

Alignment rule (implemented in `alignment`; the files in `wavfiles`, the mix in `mixdown`):
file position n *is* session-clock time n / rate, for every file.

* Each participant's audio is its own track (an aligner created on their first chunk), the
  agent's another. A track is placed on its own; the mix sums the placed tracks sample for
  sample, so it is on the clock wherever they are.
* A chunk is stamped with the clock when its observer sees it: an inbound chunk has just
  arrived, so the stamp is its end; an outbound frame is being sent, so the stamp is its start.
  Its *offset* is where its end lands if appended contiguously (audio still inside the
  resampler counted) minus where the clock puts it: > 0 the track runs ahead, < 0 behind.
* Chunks wait `lookahead` (0.4 s) before they are placed, so each decision also sees the
  chunks that arrived just after it.
* Resync: if every chunk in the lookahead is more than `resync_tolerance` (60 ms) behind — the
  peer stopped sending, the track started late — silence is inserted up to the lookahead's
  median offset (symmetrically, a lookahead wholly ahead is trimmed). A burst (a late chunk,
  then a backlog that catches up) never qualifies, since its last chunks are on time: bursts
  stay contiguous.
* Drift (clock-rate mismatch, one-sided jitter): the median offset of the last ~150 chunks is
  held within `drift_tolerance` (8 ms) by inserting or dropping at most `max_step` (10 ms) of
  audio, before a quiet chunk, or before any chunk once it exceeds `urgent_drift` (15 ms).
* A track that receives nothing (a participant silent, or gone) is filled with silence up to
  `idle_hold` (1 s) behind the clock, so the mix and the stereo interleave never wait on it
  for long. A participant who joins late starts with silence up to where the mix stands, then
  their first chunk resyncs to the clock; one who leaves is filled like any idle track, and
  continues the same track if they come back. On close, every track is padded to the
  session's end: all the files have the same length.

So, however long the session, a sound's file position stays within the urgent bound (plus the
median's noise, a few ms) of its clock time, and the stereo channels within that of each other.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from voxroom.audit.alignment import AlignmentConfig, TrackAligner, TrackStats
from voxroom.audit.wavfiles import (
    Batch,
    Files,
    RecordedFile,
    RecordingFiles,
    participant_file_name,
)

__all__ = [
    "AlignmentConfig",
    "RecordedFile",
    "RecorderConfig",
    "Recording",
    "SessionRecorder",
    "TrackStats",
]

log = logging.getLogger(__name__)

Clock = Callable[[], float]
T = TypeVar("T")

DEFAULT_RATE = 16000


@dataclass(frozen=True)
class RecorderConfig:
    alignment: AlignmentConfig = field(default_factory=AlignmentConfig)
    flush_interval: float = 0.5  # session seconds between blocks handed to the writer thread


@dataclass(frozen=True)
class Recording:
    """The files as they stand on disk, and how each track was aligned.

    `user` is the room mix; `user_track` is every participant's `TrackStats` added up (with
    one participant: theirs, as in a one-to-one call; with none: zeros). `participants` holds
    the participants' own files (only when recorded `per_participant`), `participant_tracks`
    every participant's stats; both by identity, in join order."""

    user: RecordedFile
    agent: RecordedFile
    stereo: RecordedFile
    user_track: TrackStats
    agent_track: TrackStats
    participants: dict[str, RecordedFile] = field(default_factory=dict)
    participant_tracks: dict[str, TrackStats] = field(default_factory=dict)


# One writer thread for every session in the process: blocks reach each file in the order
# they were handed over (FIFO), the loop never touches the disk, and a session adds no thread.
# Its thread starts with the first block; at exit Python joins it, so queued blocks land.
_WRITER = ThreadPoolExecutor(1, thread_name_prefix="voxroom-recorder")


def _log_failure(future: Future[Any]) -> None:
    if not future.cancelled() and (error := future.exception()) is not None:
        log.error("session recording: write failed", exc_info=error)


def _clock_from_now() -> Clock:
    started = time.monotonic()
    return lambda: time.monotonic() - started


@dataclass(frozen=True)
class _Participant:
    identity: str
    track: TrackAligner
    file_name: str | None  # their own file, when recorded per participant


class SessionRecorder:
    """Records a session's audio to `directory`: the room mix, the agent and both in stereo,
    and with `per_participant` each participant's own track (see the module's docstring).

    `clock` returns session-clock seconds (pass `SessionEventLog.clock` so the files line up
    with the events; by default a clock that starts now). `inbound` (any participant's audio,
    by identity) and `outbound` (the agent's) are observers called on the event loop;
    `close()` finalizes the files.
    """

    def __init__(
        self,
        directory: str | Path,
        clock: Clock | None = None,
        sample_rate: int = DEFAULT_RATE,
        config: RecorderConfig | None = None,
        *,
        per_participant: bool = False,
    ) -> None:
        self.directory = Path(directory)
        self.sample_rate = sample_rate
        self.per_participant = per_participant
        self._config = config or RecorderConfig()
        self._clock = clock or _clock_from_now()
        self._agent = TrackAligner(sample_rate, self._config.alignment, stamps_end=False)
        self._participants: dict[str, _Participant] = {}  # by identity, in join order
        self._joined: dict[str, str | None] = {}  # not yet handed to the writer
        self._mixed = 0  # the room mix is handed over up to here: where a new track starts
        self._disk = RecordingFiles(self.directory, sample_rate)
        self._last_flush = self._clock()
        self._stopped = False  # closed, or failed: observers cannot be removed, so they no-op
        self._final: Future[Files] | None = None
        self._last_observed = self._last_flush
        self._settle_timer: asyncio.TimerHandle | None = None
        self._submit(self._disk.open)

    def inbound(self, identity: str, samples: np.ndarray, sample_rate: int) -> None:
        """A participant's audio as it arrives (an observer for `AgentSession.observe_inbound`,
        which calls it with every participant's chunks)."""
        self._observe(identity, samples, sample_rate)

    def outbound(self, samples: np.ndarray, sample_rate: int) -> None:
        """Agent audio as it is sent (an `AudioObserver` for `AudioSink.observe`)."""
        self._observe(None, samples, sample_rate)

    async def flush(self) -> Recording:
        """Hand everything placed so far to the writer; return once it is on disk."""
        self._commit_due(self._clock())
        return self._recording(await asyncio.wrap_future(self._flush_blocks()))

    async def close(self) -> Recording:
        """Pad every track to the session's end and finalize the files (on the writer thread:
        the loop only awaits). Idempotent. Raises the writer's error if writing failed."""
        if self._final is None:
            self._stopped = True
            if self._settle_timer is not None:
                self._settle_timer.cancel()
            self._final = self._finish()
        return self._recording(await asyncio.wrap_future(self._final))

    def _tracks(self) -> list[TrackAligner]:
        return [self._agent, *(p.track for p in self._participants.values())]

    def _finish(self) -> Future[Files]:
        tracks = self._tracks()
        for track in tracks:
            track.finish()
        # Lengths, not positions: a trim still owed would leave a track longer than the rest.
        end = max(round(self._clock() * self.sample_rate), *(t.length for t in tracks))
        for track in tracks:
            track.pad_to(end)
        return self._submit(self._disk.finalize, self._batch())

    def _observe(self, identity: str | None, samples: np.ndarray, sample_rate: int) -> None:
        if self._stopped:
            return
        try:
            now = self._clock()
            track = self._agent if identity is None else self._participant(identity)
            track.add(samples, sample_rate, now)
            self._commit_due(now)
            if now - self._last_flush >= self._config.flush_interval:
                self._flush_blocks()
                self._last_flush = now
            self._last_observed = now
            if self._settle_timer is None:
                self._settle_after(self._quiet_wait())
        except Exception:  # a recording bug must not break the call: stop recording only
            log.exception("session recording stopped")
            self._stopped = True

    def _quiet_wait(self) -> float:
        return self._config.alignment.lookahead + self._config.flush_interval

    def _settle_after(self, delay: float) -> None:
        self._settle_timer = asyncio.get_running_loop().call_later(delay, self._settle)

    def _settle(self) -> None:
        """When the audio stops (a short answer ends, everyone goes quiet), no chunk comes to
        place the last ones and flush them; this does, once the audio has been quiet for a
        lookahead and a flush interval, so a process killed in the quiet keeps them. Found
        by the fleet's killed-worker test: a 0.5 s answer could sit in memory until the next
        sound, and none was on disk."""
        self._settle_timer = None
        if self._stopped:
            return
        try:
            now = self._clock()
            if (quiet := now - self._last_observed) < self._quiet_wait():
                self._settle_after(self._quiet_wait() - quiet)  # audio still flows: later
                return
            self._commit_due(now)
            self._flush_blocks()
            self._last_flush = now
        except Exception:
            log.exception("session recording stopped")
            self._stopped = True

    def _participant(self, identity: str) -> TrackAligner:
        known = self._participants.get(identity)
        if known is not None:
            return known.track
        track = TrackAligner(self.sample_rate, self._config.alignment, stamps_end=True)
        # Silence from the session's start to where the mix stands (the writer skips it in
        # the mix); the first chunk then resyncs the track to the clock.
        track.pad_to(self._mixed)
        number = len(self._participants) + 1
        name = participant_file_name(number, identity) if self.per_participant else None
        self._participants[identity] = _Participant(identity, track, name)
        self._joined[identity] = name
        return track

    def _commit_due(self, now: float) -> None:
        # Every track advances on any call, so a silent participant's track is still filled.
        for track in self._tracks():
            track.commit_due(now)

    def _batch(self) -> Batch:
        participants = {p.identity: p.track.take_blocks() for p in self._participants.values()}
        # The mix goes as far as every participant's track; in an empty room, with the agent.
        lengths = [p.track.length for p in self._participants.values()] or [self._agent.length]
        self._mixed = max(self._mixed, min(lengths))
        joined, self._joined = self._joined, {}
        return Batch(self._agent.take_blocks(), participants, self._mixed, joined)

    def _flush_blocks(self) -> Future[Files]:
        return self._submit(self._disk.append, self._batch())

    def _submit(self, action: Callable[..., T], *args: Any) -> Future[T]:
        future = _WRITER.submit(action, *args)
        future.add_done_callback(_log_failure)
        return future

    def _recording(self, files: Files) -> Recording:
        own = {file.path.name: file for file in files.participants}
        stats = {
            p.identity: p.track.counters.stats(self.sample_rate)
            for p in self._participants.values()
        }
        return Recording(
            files.user,
            files.agent,
            files.stereo,
            TrackStats.total(stats.values()),
            self._agent.counters.stats(self.sample_rate),
            participants={
                p.identity: own[p.file_name]
                for p in self._participants.values()
                if p.file_name is not None and p.file_name in own
            },
            participant_tracks=stats,
        )
