"""Child process of the kill -9 test: records a busy session until it is killed.

Prints each emitted seq on its own line, flushed, right after `emit` returns.
Usage: python durability_child.py DB_PATH
"""

from __future__ import annotations

import asyncio
import sys

from voxroom.audit import events as ev
from voxroom.audit.log import SessionEventLog
from voxroom.audit.store import AuditStore
from voxroom.audit.writer import AuditWriter

RATE_HZ = 50


async def main(db: str) -> None:
    async with AuditStore(db) as store, AuditWriter(store) as writer:
        log = SessionEventLog("durable")
        writer.attach(log)
        announce(log.emit(ev.SessionStarted(agent="durability", transport="memory")))
        turn = 0
        while True:
            turn += 1
            for event in (
                ev.UserTranscript(turn_id=turn, text=f"call me on 555-010-{turn:04d}", final=True),
                ev.LLMRequested(
                    turn_id=turn, provider="llama.cpp", model="m",
                    messages=[{"role": "user", "content": "x" * 2000}],
                ),
                ev.LLMResponded(
                    turn_id=turn, provider="llama.cpp", model="m", text="ok",
                    finish_reason="stop", prompt_tokens=500, completion_tokens=5,
                    duration_ms=1.0,
                ),
                ev.AgentSpeech(turn_id=turn, played_text="ok", final=True),
                ev.StateChanged(state="listening"),
            ):  # fmt: skip
                announce(log.emit(event))
                await asyncio.sleep(1 / RATE_HZ)


def announce(event: ev.Event) -> None:
    sys.stdout.write(f"{event.seq}\n")
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
