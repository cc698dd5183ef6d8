"""A participant in a voxroom room, over aiortc and the server's Janus gateway.

It does what the room page does (docs/protocol.md, "Rooms"): connects to `/api/v1/janus` with
its join token, joins the room's VideoRoom as a publisher (its microphone and a `voxroom`
data channel: chat and push-to-talk reach the agent), and subscribes to everyone else. The
agent is the publisher whose display says `"ai": true`: its voice is `received`, its messages
(captions, state) are `messages`; other people's voices are `heard[identity]`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
import jwt
from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from voxroom.client.base import CallClient, ReceivedAudio
from voxroom.config import TransportConfig
from voxroom.transport.janus.api import JanusConnection, JanusSession
from voxroom.transport.janus.subscription import open_messages
from voxroom.transport.janus.videoroom import (
    FeedStream,
    Joined,
    ParticipantLeaving,
    Published,
    Unpublished,
    VideoRoomPublisher,
    VideoRoomSubscriber,
)
from voxroom.transport.webrtc.configuration import rtc_configuration
from voxroom.transport.webrtc.messages import DATA_CHANNEL_LABEL
from voxroom.transport.webrtc.opus import OpusSenderTrack


def _display(display: str | None) -> dict[str, Any]:
    try:
        data = json.loads(display or "")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class RoomClient(CallClient):
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        on_message: Callable[[dict[str, Any]], None] | None = None,
        video: bool = False,
    ) -> None:
        """`video=True`: publish `camera` too; the agent's video (if any) is received."""
        super().__init__(on_message, video=video)
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.heard: dict[str, ReceivedAudio] = {}  # other people's voices, by identity
        self.present: dict[int, dict[str, Any]] = {}  # publishers (feed id → their display)
        self.agent_feed = asyncio.Event()
        # When each agent feed came up here (monotonic; its messages reach us from then on): a
        # fleet's agent that moves to another worker leaves and joins again as a new feed.
        self.agent_joins: list[float] = []
        # RTP of the agent's voice per subscription: pc id → (packets received, lost), as
        # last sampled (`sample_agent_rtp`; a subscription that ended keeps its last figures).
        self.agent_rtp: dict[int, tuple[int, int]] = {}
        self._agent_pcs: list[RTCPeerConnection] = []
        self._agent_channels: list[RTCDataChannel] = []  # ours, on each agent subscription
        self._connection: JanusConnection | None = None
        self._session: JanusSession | None = None
        self._publisher: VideoRoomPublisher | None = None
        self._pcs: list[RTCPeerConnection] = []
        self._channel: RTCDataChannel | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._subscribed: set[int] = set()
        self._http: aiohttp.ClientSession | None = None

    @property
    def gateway_url(self) -> str:
        return self.base_url.replace("http", "ws", 1) + "/api/v1/janus"

    async def join(self, timeout: float = 15.0) -> Joined:
        """Join and publish; returns once we hear the agent (our channel on its feed is open:
        its captions reach us) and the agent hears us (the room API lists us: our messages
        and voice reach it)."""
        # Messages for us alone (a hello sent when the agent sees us) come over this socket:
        # open it before we publish, as the page does, so none is sent before it is there.
        async with asyncio.timeout(timeout):
            await self._open_direct()
        connection = self._connection = await JanusConnection.connect(self.gateway_url, self.token)
        self._session = await connection.create_session()
        publisher = self._publisher = VideoRoomPublisher(await self._session.attach())
        joined = await publisher.join(0)  # the gateway puts us in our token's room
        pc = RTCPeerConnection(rtc_configuration(TransportConfig()))
        self._pcs.append(pc)
        pc.addTransceiver(OpusSenderTrack(self.microphone), "sendonly")
        if self.camera is not None:
            pc.addTransceiver(self.camera, "sendonly")
        channel = self._channel = pc.createDataChannel(DATA_CHANNEL_LABEL)
        opened = asyncio.Event()
        channel.on("open", opened.set)
        await pc.setLocalDescription(await pc.createOffer())
        answer = await publisher.publish(pc.localDescription.sdp)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        for feed in joined.publishers:
            self._follow(joined, feed)
        self._spawn(self._follow_room(publisher, joined))
        async with asyncio.timeout(timeout):
            await opened.wait()
            room = await self._heard_by_agent()
            if room.get("policy") != "silent":  # a listening agent publishes no feed
                await self.agent_feed.wait()
        return joined

    @property
    def _claims(self) -> dict[str, Any]:
        return dict(jwt.decode(self.token, options={"verify_signature": False}))

    async def _heard_by_agent(self) -> dict[str, Any]:
        """Poll the room until the agent lists us; return the room."""
        url = f"{self.base_url}/api/v1/rooms/{self._claims['room']}"
        headers = {"Authorization": f"Bearer {self.token}"}
        async with aiohttp.ClientSession() as http:
            while True:
                async with http.get(url, headers=headers) as response:
                    room: dict[str, Any] = await response.json()
                who = self._claims["sub"]
                if any(p["identity"] == who for p in room.get("participants", [])):
                    return room
                await asyncio.sleep(0.1)

    async def _open_direct(self) -> None:
        """The room's messages meant for us only (docs/protocol.md, "Rooms"), read into
        `messages` beside the agent's broadcast ones."""
        http = self._http = aiohttp.ClientSession()
        url = f"{self.gateway_url.rsplit('/janus', 1)[0]}/rooms/{self._claims['room']}/messages"
        socket = await http.ws_connect(url)
        await socket.send_json({"type": "auth", "token": self.token})
        ready = await socket.receive_json()
        if ready.get("type") != "ready":
            raise RuntimeError(f"room messages refused: {ready}")
        self._spawn(self._read_direct(socket))

    async def _read_direct(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        async for message in socket:
            if message.type == aiohttp.WSMsgType.TEXT:
                self._record_message(message.data)

    async def _follow_room(self, publisher: VideoRoomPublisher, joined: Joined) -> None:
        async for event in publisher.events():
            if isinstance(event, Published) and event.id != joined.id:
                self._follow(joined, event)
            elif isinstance(event, Unpublished | ParticipantLeaving):
                self.present.pop(event.id, None)

    def _follow(self, joined: Joined, feed: Published) -> None:
        if feed.id in self._subscribed:
            return
        self._subscribed.add(feed.id)
        self.present[feed.id] = _display(feed.display)
        self._spawn(self._subscribe(joined, feed))

    async def _subscribe(self, joined: Joined, feed: Published) -> None:
        assert self._session is not None
        who = _display(feed.display)
        is_agent = bool(who.get("ai"))
        identity = str(who.get("identity", feed.id))
        into = self.received if is_agent else self.heard.setdefault(identity, ReceivedAudio())
        subscriber = VideoRoomSubscriber(await self._session.attach())
        # Everything of the agent's; of other people, their voice (their video is not read).
        kinds = ("audio", "data", "video") if is_agent else ("audio",)
        streams = [FeedStream(feed.id, s.mid) for s in feed.streams if s.type in kinds]
        offer = await subscriber.subscribe(0, streams, private_id=joined.private_id)
        pc = RTCPeerConnection(rtc_configuration(TransportConfig()))
        self._pcs.append(pc)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":
                self._spawn(self._receive_audio(track, into))
            elif is_agent:
                self._spawn(self._receive_video(track))

        @pc.on("datachannel")
        def on_datachannel(channel: RTCDataChannel) -> None:
            if is_agent:
                channel.on("message", self._record_message)

        # The agent's feed is up once its messages reach us (`open_messages`).
        ours, up = open_messages(pc, offer.has_data, self._record_message if is_agent else None)
        if is_agent and ours is not None:
            self._agent_channels.append(ours)
        await pc.setRemoteDescription(RTCSessionDescription(offer.offer_sdp, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await subscriber.start(pc.localDescription.sdp)
        if is_agent:
            self._agent_pcs.append(pc)
            await up.wait()  # `join` bounds the wait
            self.agent_joins.append(time.monotonic())
            self.agent_feed.set()

    @property
    def hears_agent(self) -> bool:
        """The agent's messages reach us: our channel on its latest feed is open."""
        return bool(self._agent_channels) and self._agent_channels[-1].readyState == "open"

    async def sample_agent_rtp(self) -> None:
        """Update `agent_rtp` from each agent subscription's inbound audio statistics."""
        for pc in self._agent_pcs:
            if pc.connectionState == "closed":
                continue
            with contextlib.suppress(Exception):  # a transport closing under us
                report = await pc.getStats()
                for stats in report.values():
                    if getattr(stats, "type", "") == "inbound-rtp" and stats.kind == "audio":
                        self.agent_rtp[id(pc)] = (stats.packetsReceived, stats.packetsLost)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def send(self, message: dict[str, Any]) -> None:
        """A message to the agent (chat, push_to_talk, ...), over our published data channel."""
        assert self._channel is not None, "join() first"
        self._channel.send(json.dumps(message))

    async def leave(self) -> None:
        """Leave the room and hang up; idempotent."""
        for task in list(self._tasks):
            task.cancel()
        if self._publisher is not None:
            with contextlib.suppress(Exception):
                await self._publisher.leave()
            self._publisher = None
        for pc in self._pcs:
            await pc.close()
        self._pcs.clear()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
        if self._http is not None:
            await self._http.close()
            self._http = None
        self.microphone.stop()
        if self.camera is not None:
            self.camera.stop()

    close = leave
