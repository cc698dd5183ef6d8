"""Random ids for sessions, rooms and jobs."""

from __future__ import annotations

import secrets


def new_id(nbytes: int) -> str:
    """A URL-safe random id that never starts with "-": `voxroom audit show -0ZI9…` would
    read it as an option (seen on a session id of `bench turns`)."""
    while True:
        value = secrets.token_urlsafe(nbytes)
        if not value.startswith("-"):
            return value
