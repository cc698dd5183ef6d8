"""transport/p2p/peer.py: data-channel message screening and buffering (no connection)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame

from voxroom.config import IceServer, TransportConfig
from voxroom.transport.base import ParticipantInfo, ParticipantJoined, ParticipantLeft
from voxroom.transport.p2p.peer import (
    MAX_PENDING_MESSAGES,
    OfferError,
    P2PTransport,
)
from voxroom.transport.webrtc.configuration import rtc_configuration
from voxroom.transport.webrtc.inbound import MAX_FILLED_GAP_S
from voxroom.transport.webrtc.messages import MAX_MESSAGE_BYTES


@pytest.fixture
async def transport() -> AsyncIterator[P2PTransport]:
    made = P2PTransport(TransportConfig(), ParticipantInfo("alice", "Alice"))
    yield made
    await made.close()


def receive(transport: P2PTransport, raw: str | bytes) -> list[dict[str, Any]]:
    handled: list[dict[str, Any]] = []
    senders: set[str] = set()

    def handle(sender: str, message: dict[str, Any]) -> None:
        senders.add(sender)
        handled.append(message)

    transport.on_message(handle)
    transport._on_raw_message(raw)
    assert senders <= {"alice"}  # the token's identity, never what a message claims
    return handled


async def test_valid_messages_reach_the_handler(transport: P2PTransport) -> None:
    assert receive(transport, '{"type": "chat", "text": "hi"}') == [{"type": "chat", "text": "hi"}]
    assert receive(transport, b'{"type": "interrupt"}') == [{"type": "interrupt"}]
    assert transport._pending == []


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("not json", "messages must be JSON objects"),
        (b"\xff\xfe", "messages must be JSON objects"),
        ('"just a string"', "messages need a string 'type'"),
        ("[1, 2]", "messages need a string 'type'"),
        ('{"type": 7}', "messages need a string 'type'"),
        ("x" * (MAX_MESSAGE_BYTES + 1), "message too large"),
    ],
)
async def test_bad_messages_are_answered_not_handled(
    transport: P2PTransport, raw: str | bytes, error: str
) -> None:
    assert receive(transport, raw) == []
    assert transport._pending == [{"type": "error", "message": error}]


async def test_deeply_nested_json_is_answered_not_raised(transport: P2PTransport) -> None:
    assert receive(transport, "[" * 5000) == []
    assert transport._pending == [{"type": "error", "message": "messages must be JSON objects"}]


async def test_size_limit_counts_bytes_not_characters(transport: P2PTransport) -> None:
    raw = '{"type": "chat", "text": "' + "é" * 9000 + '"}'  # 18 KB of UTF-8
    assert len(raw.encode()) > MAX_MESSAGE_BYTES

    assert receive(transport, raw) == []
    assert transport._pending == [{"type": "error", "message": "message too large"}]


async def test_messages_without_a_handler_are_dropped(transport: P2PTransport) -> None:
    transport._on_raw_message('{"type": "chat", "text": "hi"}')

    assert transport._pending == []


async def test_messages_sent_before_the_channel_opens_are_held_up_to_a_limit(
    transport: P2PTransport,
) -> None:
    for i in range(MAX_PENDING_MESSAGES + 10):
        transport.send({"type": "state", "n": i})

    assert len(transport._pending) == MAX_PENDING_MESSAGES
    assert transport._pending[0] == {"type": "state", "n": 0}  # oldest first, in order


async def test_close_is_idempotent_and_ends_inbound_audio(transport: P2PTransport) -> None:
    await transport.close()
    await transport.close()

    assert transport.closed.is_set()
    assert [chunk async for chunk in transport.peer.inbound_audio()] == []
    assert transport.audio_out.readyState == "ended"


async def test_the_peer_joins_at_once_and_leaves_when_the_connection_closes(
    transport: P2PTransport,
) -> None:
    events = transport.participants()
    joined = await anext(events)
    assert isinstance(joined, ParticipantJoined)
    assert joined.participant.info == ParticipantInfo("alice", "Alice")
    assert joined.participant.video_in is not None

    await transport.close()

    assert [e async for e in events] == [ParticipantLeft("alice")]


async def test_offer_without_audio_is_an_offer_error(transport: P2PTransport) -> None:
    with pytest.raises(OfferError, match="no audio m-line"):
        await transport.accept("v=0\r\nthis is not an offer\r\n")


async def test_offer_aiortc_cannot_apply_is_an_offer_error(
    transport: P2PTransport, offer_sdp: str
) -> None:
    with pytest.raises(OfferError, match=r"^offer rejected: .+"):
        await transport.accept(offer_sdp.replace("a=setup:actpass\r\n", ""))


async def test_answer_sends_our_voice_on_the_audio_m_line(
    transport: P2PTransport, offer_sdp: str
) -> None:
    answer = await transport.accept(offer_sdp)

    audio = answer[answer.index("m=audio") : answer.index("m=application")]
    assert "a=sendrecv" in audio
    assert "a=candidate:" in answer and "127.0.0.1" in answer


def test_rtc_configuration_uses_exactly_the_configured_servers() -> None:
    assert rtc_configuration(TransportConfig()).iceServers == []

    config = TransportConfig(
        ice_servers=[IceServer(urls=["turn:t.example"], username="u", credential="c")]
    )
    (server,) = rtc_configuration(config).iceServers
    assert (server.urls, server.username, server.credential) == (["turn:t.example"], "u", "c")


def test_ice_addresses_from_the_environment_are_split() -> None:
    config = TransportConfig.model_validate({"ice_addresses": " 127.0.0.1, 10.0.0.2 ,"})

    assert config.ice_addresses == ["127.0.0.1", "10.0.0.2"]


async def test_inbound_audio_ends_on_close_even_if_the_peer_never_connected(
    transport: P2PTransport, offer_sdp: str
) -> None:
    await transport.accept(offer_sdp)  # the offerer is gone: ICE never completes
    chunks = transport.peer.inbound_audio()
    waiting = asyncio.ensure_future(anext(chunks))
    await asyncio.sleep(0.05)

    await transport.close()

    try:
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(asyncio.shield(waiting), 1)
    finally:
        waiting.cancel()


async def test_an_offer_that_never_connects_is_closed_after_the_deadline() -> None:
    """A client posts an offer and never completes ICE: the transport must close by itself
    (aioice would wait for a nomination forever and hold the session's slot and sockets)."""
    from aiortc import RTCPeerConnection

    client = RTCPeerConnection()
    client.addTransceiver("audio", direction="sendrecv")
    await client.setLocalDescription(await client.createOffer())
    server = P2PTransport(TransportConfig(ice_addresses=["127.0.0.1"], connect_timeout_s=0.5))
    try:
        await server.accept(client.localDescription.sdp)  # the client never applies the answer
        await asyncio.wait_for(server.closed.wait(), timeout=5)
        assert server.pc.connectionState == "closed"
    finally:
        await server.close()
        await client.close()


class _ScriptedAudioTrack(MediaStreamTrack):
    """Inbound audio frames as aiortc delivers them: 20 ms mono, pts = the RTP timestamp."""

    kind = "audio"

    def __init__(self, timestamps: list[int]) -> None:
        super().__init__()
        self._timestamps = list(timestamps)

    async def recv(self) -> AudioFrame:
        if not self._timestamps:
            raise MediaStreamError
        frame = AudioFrame(format="s16", layout="mono", samples=960)
        frame.planes[0].update(np.full(960, 1000, np.int16).tobytes())
        frame.sample_rate = 48000
        frame.pts = self._timestamps.pop(0)
        return frame


async def test_gaps_in_inbound_timestamps_are_heard_as_silence(transport: P2PTransport) -> None:
    """A peer using DTX sends nothing while quiet: the session must still hear that silence
    (end of turn is decided on it), up to MAX_FILLED_GAP_S; the RTP clock may wrap."""
    start = 2**32 - 1920
    timestamps = [start, start + 960, (start + 960 * 21) % 2**32, (start + 960 * 22) % 2**32]
    timestamps.append(timestamps[-1] + 960 + int(48000 * (MAX_FILLED_GAP_S + 1)))  # too long
    transport._on_track(_ScriptedAudioTrack(timestamps))

    chunks = [chunk async for chunk in transport.peer.inbound_audio()]

    # Five frames and one filled gap (16 kHz: 20 ms = 320 samples); the resampler's delay
    # holds back the first frame's output, but the gap goes in between, in order.
    assert len(chunks) == 6
    assert chunks[2].size == 19 * 320 and not chunks[2].any()  # the 380 ms DTX gap
    assert all(chunk.all() for chunk in chunks[3:])  # no silence for the gap over 2 s
