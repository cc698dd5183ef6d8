"""Our side of a VideoRoom subscription's data: when a publisher's messages can reach us.

Janus relays a publisher's data only to subscribers that opened a data channel of their own
on the subscription (before answering its offer), and only once that channel is open. The
agent's subscriptions to people and a client's to the agent wait for the same moment.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiortc import RTCDataChannel, RTCPeerConnection

from voxroom.transport.webrtc.messages import DATA_CHANNEL_LABEL


def open_messages(
    pc: RTCPeerConnection, has_data: bool, on_message: Callable[[str | bytes], None] | None
) -> tuple[RTCDataChannel | None, asyncio.Event]:
    """Open our channel on a subscription's `pc` (call before answering the offer) if the feed
    has data; returns it (None: no data) and an event set once the publisher's messages can
    reach us: our channel open, or, for a feed without data, the connection up."""
    up = asyncio.Event()
    if not has_data:

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState == "connected":
                up.set()

        return None, up
    ours = pc.createDataChannel(DATA_CHANNEL_LABEL)
    ours.on("open", up.set)
    if on_message is not None:
        ours.on("message", on_message)
    return ours, up
