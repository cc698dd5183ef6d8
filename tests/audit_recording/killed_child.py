"""Child process of the killed-recording test: records, flushes, records more, kills itself.

Records 3 s of scripted audio, flushes, prints the frames on disk per file (JSON), records a
little more that is never flushed (the interval is huge), then SIGKILLs itself: no close().
Usage: python -m tests.audit_recording.killed_child DIRECTORY
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

from voxroom.audit.recorder import RecorderConfig, SessionRecorder

from .synthetic import FakeClock, Marker, Side, play

MARKER = Marker(1.0, 700.0)


async def main(directory: str) -> None:
    clock = FakeClock()
    recorder = SessionRecorder(directory, clock=clock, config=RecorderConfig(flush_interval=1e9))
    user = Side(16000, 320, stamps_end=True, markers=(MARKER,), jitter=(-0.03, 0.03))
    agent = Side(48000, 960, stamps_end=False, markers=())
    sides = {"user": (user, recorder.inbound), "agent": (agent, recorder.outbound)}
    play(clock, sides, until=3.0)
    on_disk = await recorder.flush()
    files = (on_disk.user, on_disk.agent, on_disk.stereo)
    print(json.dumps({file.path.name: file.frames for file in files}), flush=True)
    play(clock, sides, since=3.0, until=3.4)
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
