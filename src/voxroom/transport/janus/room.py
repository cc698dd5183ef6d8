"""The agent as one participant of a Janus VideoRoom: a voxroom Transport for rooms.

The agent publishes its voice (and a `voxroom` data channel: captions and state reach every
participant subscribed to it; and its video, for agents that make some) and subscribes to
every other publisher, one PeerConnection per feed, so each person's audio and messages
arrive already attributed. People's cameras are subscribed to only for agents that watch
them (decoding video nobody reads would cost CPU, and aiortc queues it without bound). A
publisher is a participant from the moment their media is up (`Published`) until they
unpublish or leave.

Who a publisher is comes from their `display`, a small JSON object voxroom's gateway sets
from their join token (`participant_display`); any other display is a guest, named by it.

If the connection to Janus drops (Janus restarted, network gone), everyone is reported as
left, and the agent reconnects, recreates the room if it is gone (`prepare`), rejoins and
resubscribes: the session goes on. The room being destroyed ends the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from typing import Any

import numpy as np
from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from voxroom.config import TransportConfig
from voxroom.transport.base import (
    MessageHandler,
    ParticipantEvent,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantLeft,
    RemoteParticipant,
    Transport,
)
from voxroom.transport.janus.api import JanusConnection, JanusSession
from voxroom.transport.janus.errors import JanusConnectionLost, JanusError
from voxroom.transport.janus.subscription import open_messages
from voxroom.transport.janus.videoroom import (
    NO_SUCH_FEED,
    FeedStream,
    Joined,
    ParticipantLeaving,
    Published,
    RemovedFromRoom,
    RoomDestroyed,
    Unpublished,
    VideoRoomPublisher,
    VideoRoomSubscriber,
)
from voxroom.transport.video import VideoSource
from voxroom.transport.webrtc.configuration import rtc_configuration
from voxroom.transport.webrtc.inbound import InboundAudio
from voxroom.transport.webrtc.messages import DATA_CHANNEL_LABEL, BadMessage, parse_message
from voxroom.transport.webrtc.opus import OpusSenderTrack
from voxroom.transport.webrtc.outbound import PacedAudioTrack
from voxroom.transport.webrtc.video import BorrowedVideoTrack, PacedVideoTrack, drain_video

log = logging.getLogger(__name__)

MAX_PENDING_MESSAGES = 64
RECONNECT_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 5.0)  # then every 5 s, as long as the call lasts
SUBSCRIBE_ATTEMPTS = 5  # a feed may be announced a moment before Janus can serve it
Prepare = Callable[[JanusConnection], Awaitable[None]]
# Delivers a message to some participants (by identity) outside the room's broadcast data
# channel, which every subscriber of the agent receives: the server's room message hub.
DirectSend = Callable[[frozenset[str], dict[str, Any]], None]


def participant_display(info: ParticipantInfo, *, ai: bool = False) -> str:
    """The `display` a participant joins with: who they are, for everyone in the room."""
    data: dict[str, Any] = {"identity": info.identity, "name": info.display_name}
    if info.role != "user":
        data["role"] = info.role
    if info.language:
        data["lang"] = info.language
    if ai:
        data["ai"] = True
    return json.dumps(data, separators=(",", ":"))


def participant_from_display(feed: int, display: str | None) -> ParticipantInfo:
    try:
        data = json.loads(display or "")
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("identity"), str):
        name = (display or "").strip()[:64]
        return ParticipantInfo(f"guest-{feed}", name or f"Guest {feed}", role="guest")

    def text(key: str) -> str | None:
        value = data.get(key)
        return value[:64] if isinstance(value, str) and value else None

    return ParticipantInfo(
        identity=data["identity"][:64],
        name=text("name") or "",
        role=text("role") or "user",
        language=text("lang"),
    )


class FeedParticipant(RemoteParticipant):
    """A publisher the agent subscribes to: their audio (and camera), decoded as it arrives."""

    def __init__(self, info: ParticipantInfo, feed: Published, video: bool, identity: str) -> None:
        self.info = info
        self.identity = identity  # as their token says (info's may carry a "#2" suffix)
        self.feed = feed.id
        # Their streams to receive: audio and data, video only for an agent that watches.
        kinds = ("audio", "data", "video") if video else ("audio", "data")
        self.streams = [FeedStream(feed.id, s.mid) for s in feed.streams if s.type in kinds]
        self.audio = InboundAudio()
        self.video_in = VideoSource() if video and feed.has("video") else None
        self.pc: RTCPeerConnection | None = None
        self.subscriber: VideoRoomSubscriber | None = None
        self._video_task: asyncio.Task[None] | None = None

    def watch(self, track: MediaStreamTrack) -> None:
        if self.video_in is not None and self._video_task is None:
            self._video_task = asyncio.ensure_future(drain_video(track, self.video_in))

    def inbound_audio(self) -> AsyncIterator[np.ndarray]:
        return self.audio.chunks()

    async def close(self) -> None:
        self.audio.end()
        if self._video_task is not None:
            self._video_task.cancel()
        if self.video_in is not None:
            self.video_in.end()
        if self.pc is not None:
            await self.pc.close()
        if self.subscriber is not None:  # its renegotiation offers are of no use to us now
            with contextlib.suppress(JanusError, JanusConnectionLost):
                await self.subscriber.handle.detach()


class JanusRoomTransport(Transport):
    multiparty = True

    def __init__(
        self,
        url: str,
        room: int,
        agent: ParticipantInfo,
        config: TransportConfig,
        *,
        video: bool = False,
        publish: bool = True,
        direct: DirectSend | None = None,
        prepare: Prepare | None = None,
        reconnect_delays_s: Sequence[float] = RECONNECT_DELAYS_S,
    ) -> None:
        """`video`: the agent publishes video (`video_out`) and watches people's cameras.
        `publish=False`: the agent only listens (no feed: nobody sees or hears it); its
        messages then reach people only through `direct`, as do all messages meant for some
        participants only."""
        self.url = url
        self.room = room
        self.agent = agent
        self.audio_out: PacedAudioTrack = PacedAudioTrack()
        self.video_out: PacedVideoTrack | None = PacedVideoTrack() if video else None
        self._config = config
        self._publish_media = publish
        self._direct = direct
        self._prepare = prepare
        self._delays = reconnect_delays_s
        self._events: asyncio.Queue[ParticipantEvent | None] = asyncio.Queue()
        self._feeds: dict[int, FeedParticipant] = {}
        self._handler: MessageHandler | None = None
        self._channel: RTCDataChannel | None = None
        self._pending: list[str] = []
        self._connection: JanusConnection | None = None
        self._publisher_pc: RTCPeerConnection | None = None
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.joined = asyncio.Event()  # set while the agent is in the room and publishing
        self.rejoins = 0
        self.closed = False

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Join and publish once (errors propagate: the room cannot be joined); from then on
        the transport keeps itself in the room until `close()` or the room is destroyed."""
        session, publisher = await self._join()
        self._runner = asyncio.create_task(self._stay(session, publisher))

    async def _join(self) -> tuple[JanusSession, VideoRoomPublisher]:
        connection = self._connection = await JanusConnection.connect(self.url)
        try:
            if self._prepare is not None:
                await self._prepare(connection)
            session = await connection.create_session()
            publisher = VideoRoomPublisher(await session.attach())
            display = participant_display(self.agent, ai=True)
            joined = await publisher.join(self.room, display=display)
            if self._publish_media:
                await self._publish(publisher)
        except BaseException:
            await connection.close()
            raise
        self.joined.set()
        for feed in joined.publishers:
            self._follow(session, joined, feed)
        return session, publisher

    async def _publish(self, publisher: VideoRoomPublisher) -> None:
        pc = self._publisher_pc = RTCPeerConnection(rtc_configuration(self._config))
        voice = OpusSenderTrack(self.audio_out, dtx=self._config.dtx, owns_source=False)
        pc.addTransceiver(voice, "sendonly")
        if self.video_out is not None:  # sends nothing until the agent pushes a frame
            pc.addTransceiver(BorrowedVideoTrack(self.video_out), "sendonly")
        channel = pc.createDataChannel(DATA_CHANNEL_LABEL)
        channel.on("open", lambda: self._flush(channel))
        await pc.setLocalDescription(await pc.createOffer())  # aiortc gathers fully here
        answer = await publisher.publish(pc.localDescription.sdp)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

    async def _stay(self, session: JanusSession, publisher: VideoRoomPublisher) -> None:
        """Follow the room; rejoin whenever the connection is lost, until the call ends."""
        while not self.closed:
            destroyed = await self._follow_room(session, publisher)
            await self._left_room()
            if destroyed or self.closed:
                break
            joined = await self._rejoin()
            if joined is None:
                break
            session, publisher = joined
        self._events.put_nowait(None)

    async def _rejoin(self) -> tuple[JanusSession, VideoRoomPublisher] | None:
        attempt = 0
        while not self.closed:
            delay = self._delays[min(attempt, len(self._delays) - 1)]
            await asyncio.sleep(delay)
            attempt += 1
            try:
                joined = await self._join()
            except (OSError, TimeoutError, JanusConnectionLost, JanusError) as exc:
                log.info("room %d: rejoin attempt %d failed: %s", self.room, attempt, exc)
                continue
            self.rejoins += 1
            log.info("room %d: rejoined after %d attempt(s)", self.room, attempt)
            return joined
        return None

    async def _follow_room(self, session: JanusSession, publisher: VideoRoomPublisher) -> bool:
        """Subscribe to publishers as they come, drop them as they go; True when the room
        was destroyed (or the agent removed from it), False when the connection was lost."""
        joined = publisher.joined
        assert joined is not None
        async for event in publisher.events():
            if isinstance(event, Published) and event.id != joined.id:
                self._follow(session, joined, event)
            elif isinstance(event, Unpublished | ParticipantLeaving):
                await self._drop(event.id)
            elif isinstance(event, RoomDestroyed | RemovedFromRoom):
                return True  # the room is gone, or the agent was put out: the call is over
        return False

    async def _left_room(self) -> None:
        """The agent is out of the room: everyone is gone, as far as the session knows."""
        self.joined.clear()
        for feed in list(self._feeds):
            await self._drop(feed)
        for task in list(self._tasks):
            task.cancel()
        if self._publisher_pc is not None:
            await self._publisher_pc.close()
            self._publisher_pc = None
        self._channel = None
        if self._connection is not None:
            await self._connection.close()

    # --- participants --------------------------------------------------------------------
    def _follow(self, session: JanusSession, joined: Joined, feed: Published) -> None:
        if feed.id in self._feeds or not feed.has("audio"):
            return  # already followed, or nothing to hear (yet): a later Published says
        claimed = participant_from_display(feed.id, feed.display)
        info = self._unique(claimed)
        participant = FeedParticipant(
            info, feed, video=self.video_out is not None, identity=claimed.identity
        )
        self._feeds[feed.id] = participant
        task = asyncio.create_task(self._subscribe(session, joined, participant))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _unique(self, info: ParticipantInfo) -> ParticipantInfo:
        """Identities are unique among those present (one person in two tabs is two)."""
        taken = {p.info.identity for p in self._feeds.values()}
        identity, n = info.identity, 1
        while identity in taken:
            n += 1
            identity = f"{info.identity}#{n}"
        return ParticipantInfo(identity, info.name, info.role, info.language)

    async def _subscribe(
        self, session: JanusSession, joined: Joined, participant: FeedParticipant
    ) -> None:
        try:
            subscriber = participant.subscriber = VideoRoomSubscriber(await session.attach())
            for attempt in range(SUBSCRIBE_ATTEMPTS):
                try:
                    offer = await subscriber.subscribe(
                        self.room, participant.streams, private_id=joined.private_id
                    )
                    break
                except JanusError as exc:
                    if exc.code != NO_SUCH_FEED or attempt == SUBSCRIBE_ATTEMPTS - 1:
                        raise
                    await asyncio.sleep(0.2 * (attempt + 1))
            pc = participant.pc = RTCPeerConnection(rtc_configuration(self._config))
            identity = participant.info.identity

            @pc.on("track")
            def on_track(track: MediaStreamTrack) -> None:
                if track.kind == "audio":
                    participant.audio.attach(track)
                else:
                    participant.watch(track)

            @pc.on("datachannel")
            def on_datachannel(channel: RTCDataChannel) -> None:
                channel.on("message", lambda raw: self._received(identity, raw))

            _, up = open_messages(pc, offer.has_data, lambda raw: self._received(identity, raw))
            await pc.setRemoteDescription(RTCSessionDescription(offer.offer_sdp, "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            await subscriber.start(pc.localDescription.sdp)
            async with asyncio.timeout(self._config.connect_timeout_s):
                await up.wait()
        except (JanusError, JanusConnectionLost, OSError, TimeoutError) as exc:
            log.warning("room %d: cannot subscribe to %s: %s", self.room, participant.info, exc)
            self._feeds.pop(participant.feed, None)
            await participant.close()
            return
        self._events.put_nowait(ParticipantJoined(participant))

    async def _drop(self, feed: int) -> None:
        participant = self._feeds.pop(feed, None)
        if participant is None:
            return
        await participant.close()
        self._events.put_nowait(ParticipantLeft(participant.info.identity))

    def _received(self, sender: str, raw: str | bytes) -> None:
        if self._handler is None:
            return
        try:
            message = parse_message(raw)
        except BadMessage as exc:  # a broadcast channel cannot answer one sender: log it
            log.info("room %d: bad message from %s: %s", self.room, sender, exc)
            return
        try:
            self._handler(sender, message)
        except Exception:  # never let a handler bug reach aiortc's receive loop
            log.exception("data channel handler failed")

    # --- Transport -----------------------------------------------------------------------
    async def participants(self) -> AsyncIterator[ParticipantEvent]:
        while (event := await self._events.get()) is not None:
            yield event

    def send(self, message: dict[str, Any], to: Collection[str] | None = None) -> None:
        if to is not None:
            self._send_direct(to, message)
            return
        if not self._publish_media:  # no feed, no broadcast channel: everyone, one by one
            self._send_direct([p.info.identity for p in self._feeds.values()], message)
            return
        text = json.dumps(message)
        channel = self._channel
        if channel is not None and channel.readyState == "open":
            channel.send(text)
        elif len(self._pending) < MAX_PENDING_MESSAGES:
            self._pending.append(text)

    def _send_direct(self, to: Collection[str], message: dict[str, Any]) -> None:
        if self._direct is None:
            log.warning("room %d: no direct channel: a message for %s is dropped", self.room, to)
            return
        by_unique = {p.info.identity: p.identity for p in self._feeds.values()}
        self._direct(frozenset(by_unique.get(who, who) for who in to), message)

    def _flush(self, channel: RTCDataChannel) -> None:
        self._channel = channel
        pending, self._pending = self._pending, []
        for text in pending:
            channel.send(text)

    def on_message(self, handler: MessageHandler) -> None:
        self._handler = handler

    @property
    def inbound_backlog_frames(self) -> int:
        return max((p.audio.backlog_frames for p in self._feeds.values()), default=0)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.audio_out.stop()
        if self.video_out is not None:
            self.video_out.stop()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        await self._left_room()
        self._events.put_nowait(None)
