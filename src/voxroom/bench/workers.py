"""Load-client child processes driven by JSON lines: the orchestrator's handle on one
(`WorkerProcess`) and the child's side of the pipe (`CommandChannel`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(eq=False)
class WorkerProcess:
    """A load-client child process speaking JSON lines (commands in, replies/events out)."""

    process: asyncio.subprocess.Process
    stderr_path: Path
    lines: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, module: str, args: list[str], stderr_path: Path) -> WorkerProcess:
        with stderr_path.open("ab") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                module,
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
            )
        worker = cls(process, stderr_path)
        worker.reader = asyncio.ensure_future(worker._read())
        return worker

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            with contextlib.suppress(ValueError):
                self.lines.put_nowait(json.loads(line))
        self.lines.put_nowait({"event": "exited"})

    async def send(self, command: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()

    async def request(self, command: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
        await self.send(command)
        reply = await asyncio.wait_for(self.lines.get(), timeout)
        if reply.get("event") == "exited":
            raise RuntimeError(f"load worker exited: {self.stderr_tail()}")
        return reply

    def stderr_tail(self, chars: int = 2000) -> str:
        return self.stderr_path.read_text(errors="replace")[-chars:]

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()

    async def wait(self, timeout: float = 20.0) -> None:
        try:
            await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.kill()
            await self.process.wait()
        if self.reader is not None:  # it ends at EOF, once every line it wrote is queued
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.reader), 5)
            self.reader.cancel()


class CommandChannel:
    """The worker side: JSON commands from stdin, replies to stdout (nothing else writes
    there: logging goes to stderr)."""

    def __init__(self) -> None:
        self._reader: asyncio.StreamReader | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        reader = self._reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def next(self) -> dict[str, Any] | None:
        assert self._reader is not None
        line = await self._reader.readline()
        return json.loads(line) if line else None

    @staticmethod
    def reply(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()
