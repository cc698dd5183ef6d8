"""The RTCConfiguration every voxroom peer connection uses."""

from __future__ import annotations

from aiortc import RTCConfiguration, RTCIceServer

from voxroom.config import TransportConfig


def rtc_configuration(config: TransportConfig) -> RTCConfiguration:
    # An explicit (possibly empty) list: aiortc otherwise adds a public STUN server.
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(urls=s.urls, username=s.username, credential=s.credential)
            for s in config.ice_servers
        ]
    )
