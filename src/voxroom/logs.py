"""Log set-up shared by the commands: one format, the chatty libraries quieted."""

from __future__ import annotations

import logging


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("aioice", "aiortc", "faster_whisper", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
