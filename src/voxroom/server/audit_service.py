"""The server's audit plumbing: one store and one writer per process, retention on a timer,
and at start-up the recovery of sessions a killed server left open (`audit.recovery`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from voxroom.agent.session import AgentSession
from voxroom.audit.events import RecordingSaved
from voxroom.audit.log import SessionEventLog
from voxroom.audit.parts import flatten_part, part_folder
from voxroom.audit.recorder import Recording, SessionRecorder
from voxroom.audit.recovery import SessionJournal, recover
from voxroom.audit.retention import purge
from voxroom.audit.store import AuditStore
from voxroom.audit.writer import AuditWriter
from voxroom.config import VoxroomConfig
from voxroom.transport.base import AudioSink

log = logging.getLogger(__name__)
RETENTION_CHECK_S = 3600.0


class AuditService:
    def __init__(self, config: VoxroomConfig) -> None:
        self._config = config.audit
        self._cache_dir = config.models.cache_dir
        self.store = AuditStore(self._config.database_url(self._cache_dir))
        self.writer = AuditWriter.from_config(self.store, self._config)
        self.journal = SessionJournal(self._config.instances_dir(self._cache_dir))
        self._retention: asyncio.Task[None] | None = None

    @property
    def files_dir(self) -> Path:
        return self._config.files_dir(self._cache_dir)

    def session_dir(self, session_id: str) -> Path:
        return self.files_dir / session_id

    async def start(self) -> None:
        await self.store.open()
        await self.writer.start()
        # Before this process's own journal exists: recovery only ever sees other processes'.
        await recover(self.store, self.writer, self.journal.directory, self.files_dir)
        await asyncio.to_thread(self.journal.open)
        if self._config.retention_days is not None:
            self._retention = asyncio.create_task(self._enforce_retention())

    def attach(self, event_log: SessionEventLog, journal: bool = True) -> None:
        """Before the session emits anything: the hash chain starts at seq 1 (or goes on from
        the stored head, for a continued session), and the session is in this process's
        journal before any of it is stored (`journal=False`: a fleet's room session, which
        another worker continues if this process dies, is never closed as crashed)."""
        if journal:
            self.journal.add(event_log.session_id)
        self.writer.attach(event_log)

    def record(
        self, session: AgentSession, outbound: AudioSink, per_participant: bool, part: int = 1
    ) -> None:
        """Record the room and the agent to the session's folder (and each participant's own
        track with `per_participant`); the files are logged when the session ends. Part 2, 3…
        of a session continued by other workers are recorded in `part-<n>/`, then moved
        beside part 1's as `part-<n>-<file>`, on a clock that starts with the part
        (`recording_saved.start` says where it is on the session clock)."""
        folder, start = self.session_dir(session.id), 0.0
        if part > 1:
            folder, start = folder / part_folder(part), session.log.clock()
        recorder = SessionRecorder(
            folder, clock=lambda: session.log.clock() - start, per_participant=per_participant
        )
        session.observe_inbound(recorder.inbound)
        outbound.observe(recorder.outbound)

        async def save() -> None:
            saved = recording_saved(await recorder.close())
            if part > 1:  # beside part 1's files, named by part (the audit API serves them)
                saved.files = await asyncio.to_thread(flatten_part, folder, saved.files, part)
                saved.start = round(start, 3)
            session.log.emit(saved)

        session.add_finalizer(save)

    async def _enforce_retention(self) -> None:
        days = self._config.retention_days
        assert days is not None
        while True:
            purged = await purge(self.store, days, self.files_dir)
            if purged:
                log.info("retention: purged %d sessions older than %s days", len(purged), days)
            await asyncio.sleep(RETENTION_CHECK_S)

    async def close(self) -> None:
        if self._retention is not None:
            self._retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retention
        await self.writer.close()
        # Every session was ended before the writer closed (the app ends them first): if all
        # their events are stored, nothing is left to recover. If some were lost, the journal
        # stays, and the next start-up closes whatever the store still has open.
        lost = self.writer.lost + self.writer.dropped
        await asyncio.to_thread(self.journal.close, lost == 0)
        await self.store.close()


def recording_saved(recording: Recording) -> RecordingSaved:
    """The event for a finished recording: the three files and each participant's own file
    (`participant:<identity>`), with what alignment did to each of those tracks ("user": all
    the participants' tracks added up)."""
    files = {"user": recording.user, "agent": recording.agent, "stereo": recording.stereo}
    tracks = {"user": recording.user_track, "agent": recording.agent_track}
    for identity, file in recording.participants.items():
        files[f"participant:{identity}"] = file
        tracks[f"participant:{identity}"] = recording.participant_tracks[identity]
    return RecordingSaved(
        files={key: file.path.name for key, file in files.items()},
        sample_rate=recording.stereo.sample_rate,
        duration=round(recording.stereo.seconds, 3),
        padded_seconds={key: stats.padded_seconds for key, stats in tracks.items()},
        trimmed_seconds={key: stats.trimmed_seconds for key, stats in tracks.items()},
    )
