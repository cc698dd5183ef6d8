"""Everything that can go wrong talking to, or running, Janus: one typed error each."""

from __future__ import annotations


class JanusNotInstalled(RuntimeError):
    """The janus binary or one of the modules voxroom needs is missing (the message says which)."""


class NoInterfaceError(RuntimeError):
    """No network interface Janus could gather ICE candidates on was found or named."""


class JanusStartError(RuntimeError):
    """Janus did not start or did not answer in time; the message ends with its log tail."""


class JanusError(Exception):
    """Janus or a plugin refused a request: `code` and `reason` as Janus sent them.

    Core errors use the Janus API codes (e.g. 458 no such session, 403 unauthorized); plugin
    errors use the plugin's codes (VideoRoom: 426 no such room, 428 no such feed, ...)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"Janus error {code}: {reason}")
        self.code = code
        self.reason = reason


class JanusConnectionLost(ConnectionError):
    """The WebSocket to Janus closed: every session and handle on it is gone with it."""
