"""voxroom clients over aiortc, for tests, benchmarks and headless integrations: a
peer-to-peer call with the agent (`VoxroomClient`) and a participant in a room (`RoomClient`).
They speak the same contracts as the browser pages (docs/protocol.md)."""

from voxroom.client.base import CallClient, ReceivedAudio, ReceivedVideo
from voxroom.client.p2p import VoxroomClient
from voxroom.client.room import RoomClient
from voxroom.transport.webrtc.outbound import WIRE_RATE

__all__ = [
    "WIRE_RATE",
    "CallClient",
    "ReceivedAudio",
    "ReceivedVideo",
    "RoomClient",
    "VoxroomClient",
]
