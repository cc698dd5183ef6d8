"""The load-client worker of `voxroom bench sessions`: a child process holding some of the
ramp's sessions, driven by JSON commands on stdin (add, mark, window, close)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from voxroom.bench.load import LoadClient, fetch_token
from voxroom.bench.workers import CommandChannel


async def _worker(url: str) -> None:
    from voxroom.transport.webrtc import tuning

    tuning.apply(jitter_prefetch=0, host_addresses=["127.0.0.1"])
    channel = CommandChannel()
    await channel.open()
    clients: list[LoadClient] = []
    token = await fetch_token(url)

    async def connect() -> LoadClient:
        client = LoadClient(url)
        try:
            await client.connect(token)
        except BaseException:
            await client.vanish()
            raise
        return client

    try:
        while (command := await channel.next()) is not None:
            match command["cmd"]:
                case "add":
                    results = await asyncio.gather(
                        *(connect() for _ in range(int(command["count"]))), return_exceptions=True
                    )
                    made = [c for c in results if isinstance(c, LoadClient)]
                    clients.extend(made)
                    errors = [repr(e) for e in results if not isinstance(e, LoadClient)]
                    channel.reply({"event": "added", "ok": len(made), "errors": errors})
                case "mark":
                    await asyncio.gather(*(c.mark() for c in clients))
                    channel.reply({"event": "marked"})
                case "window":
                    windows = await asyncio.gather(*(c.window() for c in clients))
                    channel.reply({"event": "window", "sessions": [w.as_dict() for w in windows]})
                case "close":
                    break
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        channel.reply({"event": "closed"})


def _main() -> None:
    parser = argparse.ArgumentParser(description="voxroom bench sessions load worker")
    parser.add_argument("--worker", metavar="URL", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(_worker(args.worker))


if __name__ == "__main__":
    _main()
