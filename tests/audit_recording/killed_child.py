"""Child process of the killed-recording tests: records, flushes, records more, kills itself.

`one`: records 3 s of scripted audio (one participant and the agent), flushes, prints the
frames on disk per file (JSON), records a little more that is never flushed (the interval is
huge), then SIGKILLs itself: no close().
`room`: the same with two participants (the second joins at 1.5 s) recorded per participant,
except that the little more is flushed too, and the process dies inside that flush: after the
first participant file's new audio reached the OS, before its header was rewritten.
Usage: python -m tests.audit_recording.killed_child DIRECTORY [one|room]
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from functools import partial

from voxroom.audit import wavfiles
from voxroom.audit.recorder import RecorderConfig, SessionRecorder

from .synthetic import FakeClock, Marker, Observer, Side, play

MARKER = Marker(1.0, 700.0)
BOB_MARKER = Marker(2.0, 1300.0)
BOB_JOINS = 1.5


def _person(markers: tuple[Marker, ...], seed: int, joins: float = 0.0) -> Side:
    gaps = ((0.0, joins),) if joins else ()
    return Side(16000, 320, True, markers, jitter=(-0.03, 0.03), gaps=gaps, seed=seed)


AGENT = Side(48000, 960, stamps_end=False, markers=())


async def one(directory: str) -> None:
    clock = FakeClock()
    recorder = SessionRecorder(directory, clock=clock, config=RecorderConfig(flush_interval=1e9))
    sides: dict[str, tuple[Side, Observer]] = {
        "user": (_person((MARKER,), seed=0), partial(recorder.inbound, "user")),
        "agent": (AGENT, recorder.outbound),
    }
    play(clock, sides, until=3.0)
    on_disk = await recorder.flush()
    files = (on_disk.user, on_disk.agent, on_disk.stereo)
    print(json.dumps({file.path.name: file.frames for file in files}), flush=True)
    play(clock, sides, since=3.0, until=3.4)
    os.kill(os.getpid(), signal.SIGKILL)


async def room(directory: str) -> None:
    clock = FakeClock()
    config = RecorderConfig(flush_interval=1e9)
    recorder = SessionRecorder(directory, clock=clock, config=config, per_participant=True)
    sides: dict[str, tuple[Side, Observer]] = {
        "alice": (_person((MARKER,), seed=1), partial(recorder.inbound, "alice")),
        "bob": (_person((BOB_MARKER,), seed=2, joins=BOB_JOINS), partial(recorder.inbound, "bob")),
        "agent": (AGENT, recorder.outbound),
    }
    play(clock, sides, until=3.0)
    on_disk = await recorder.flush()
    files = (on_disk.user, on_disk.agent, on_disk.stereo, *on_disk.participants.values())
    print(json.dumps({file.path.name: file.frames for file in files}), flush=True)
    play(clock, sides, since=3.0, until=3.6)
    header = wavfiles.WavStream._header

    def killed_before_the_header(stream: wavfiles.WavStream) -> bytes:
        # `sync` has flushed the stream's data to the OS and is about to rewrite its sizes.
        if stream.path.name.startswith("participant-"):
            os.kill(os.getpid(), signal.SIGKILL)
        return header(stream)

    wavfiles.WavStream._header = killed_before_the_header  # type: ignore[method-assign,assignment]
    await recorder.flush()


if __name__ == "__main__":
    mode = sys.argv[2] if len(sys.argv) > 2 else "one"
    asyncio.run({"one": one, "room": room}[mode](sys.argv[1]))
