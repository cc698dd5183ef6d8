"""Cheap structural checks on an SDP offer, so bad input gets a precise 400 before aiortc."""

from __future__ import annotations


class SdpError(ValueError):
    pass


def validate_offer(body: bytes) -> str:
    try:
        sdp = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SdpError("SDP must be UTF-8 text") from exc
    if "\x00" in sdp:
        raise SdpError("SDP contains NUL bytes")
    lines = [line.strip() for line in sdp.splitlines() if line.strip()]
    if not lines or lines[0] != "v=0":
        raise SdpError("SDP must start with 'v=0'")
    bad = next((line for line in lines if len(line) < 2 or line[1] != "="), None)
    if bad is not None:
        raise SdpError(f"malformed SDP line: {bad[:60]!r}")
    if not any(line.startswith("m=audio") for line in lines):
        raise SdpError("offer has no audio m-line")
    if not any(line.startswith("a=fingerprint:") for line in lines):
        raise SdpError("offer has no DTLS fingerprint")
    if not any(line.startswith("a=ice-ufrag:") for line in lines):
        raise SdpError("offer has no ICE credentials")
    return sdp if sdp.endswith("\n") else sdp + "\n"
