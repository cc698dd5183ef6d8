"""Typed requests and events of Janus's VideoRoom plugin, over a `JanusHandle`.

Three roles, one handle each (Janus wants a handle per PeerConnection):
- `VideoRoomAdmin`: create, destroy, check and list rooms, and manage their token ACL.
- `VideoRoomPublisher`: a participant. Joining alone already brings the room's events
  (others joining, publishing, unpublishing, leaving); publishing adds a PeerConnection that
  sends our offer's media (audio, video and/or a data channel: whatever the SDP offers).
- `VideoRoomSubscriber`: receives publishers' streams; Janus makes the offer, we answer.

Events Janus sends with no transaction become `RoomEvent`s (`parse_room_event`): one per
publisher in a `publishers` list, so a caller handles one participant at a time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from voxroom.transport.janus.api import JSON, JanusEvent, JanusHandle
from voxroom.transport.janus.errors import JanusError

PLUGIN = "janus.plugin.videoroom"
# The plugin's error codes a caller may want to tell apart (JanusError.code).
NO_SUCH_ROOM = 426
ROOM_EXISTS = 427
NO_SUCH_FEED = 428  # e.g. subscribing before the publisher's PeerConnection is up
MISSING_ELEMENT = 429  # e.g. no pin for a room with one, no admin_key where one is set
PUBLISHERS_FULL = 432
UNAUTHORIZED = 433  # a wrong secret, pin or admin_key; a token missing or not allowed
ID_EXISTS = 436

AllowedAction = Literal["enable", "disable", "add", "remove"]


@dataclass(frozen=True)
class RoomSettings:
    """A room to create. Private by default (absent from `list`); `notify_joining` so that
    participants hear of each other on joining, before (or without) publishing."""

    room: int
    description: str = ""
    publishers: int = 6  # at most this many publish at once
    secret: str | None = None  # needed to destroy or edit the room, and to change `allowed`
    pin: str | None = None  # needed to join
    allowed: Sequence[str] | None = None  # tokens that may join; None: no token check
    is_private: bool = True
    audiocodec: str = "opus"
    videocodec: str = "vp8"
    notify_joining: bool = True

    def request(self) -> JSON:
        body: JSON = {
            "request": "create",
            "room": self.room,
            "description": self.description,
            "publishers": self.publishers,
            "is_private": self.is_private,
            "audiocodec": self.audiocodec,
            "videocodec": self.videocodec,
            "notify_joining": self.notify_joining,
        }
        for key, value in (("secret", self.secret), ("pin", self.pin)):
            if value is not None:
                body[key] = value
        if self.allowed is not None:
            body["allowed"] = list(self.allowed)
        return body


@dataclass(frozen=True)
class PublishedStream:
    type: str  # "audio", "video" or "data"
    mid: str
    mindex: int
    codec: str | None = None  # None for data, and for a disabled stream
    disabled: bool = False
    description: str | None = None


@dataclass(frozen=True)
class Participant:
    id: int
    display: str | None
    publisher: bool = False  # publishing now (listparticipants only)


# --- events -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ParticipantJoining:
    """Someone joined the room (rooms with `notify_joining`), publishing or not yet."""

    room: int
    id: int
    display: str | None


@dataclass(frozen=True)
class Published:
    """A participant's PeerConnection is up and these streams can be subscribed to."""

    room: int
    id: int
    display: str | None
    streams: tuple[PublishedStream, ...]

    def has(self, kind: str) -> bool:
        return any(s.type == kind and not s.disabled for s in self.streams)


@dataclass(frozen=True)
class Unpublished:
    """A participant stopped publishing (unpublished, left, or lost the connection). Janus
    1.1.2 may send it twice for one participant (e.g. a handle detached while publishing)."""

    room: int
    id: int


@dataclass(frozen=True)
class ParticipantLeaving:
    """A participant left the room: by `leave`, kicked, or their handle or session went."""

    room: int
    id: int
    kicked: bool = False


@dataclass(frozen=True)
class RemovedFromRoom:
    """We are out of the room without asking (`reason`: "kicked")."""

    room: int
    reason: str


@dataclass(frozen=True)
class RoomDestroyed:
    """The room is gone: every handle in it is out."""

    room: int


RoomEvent = (
    ParticipantJoining
    | Published
    | Unpublished
    | ParticipantLeaving
    | RemovedFromRoom
    | RoomDestroyed
)


@dataclass(frozen=True)
class Joined:
    """Our join succeeded: who we are, who publishes now, who else is there."""

    room: int
    id: int
    private_id: int  # pass to subscriptions made on this participant's behalf
    description: str | None
    publishers: tuple[Published, ...]
    attendees: tuple[Participant, ...]  # present but not publishing (notify_joining)


@dataclass(frozen=True)
class SubscribedStream:
    mid: str  # ours, in the subscriber's SDP
    type: str
    feed_id: int | None  # the publisher; None for an inactive placeholder
    feed_mid: str | None
    feed_display: str | None


@dataclass(frozen=True)
class Subscription:
    offer_sdp: str  # Janus's offer: answer it with `VideoRoomSubscriber.start`
    streams: tuple[SubscribedStream, ...]

    @property
    def has_data(self) -> bool:
        """The offer has a data m-line: open a channel before answering (see the class)."""
        return any(s.type == "data" for s in self.streams)


def parse_room_event(event: JanusEvent) -> list[RoomEvent]:
    """The room events in a plugin event; [] for anything else (replies, talking, ...)."""
    if event.kind != "event":
        return []
    data = event.data
    room = _int(data.get("room"))
    kind = data.get("videoroom")
    if kind == "destroyed":
        return [RoomDestroyed(room)]
    if kind != "event":
        return []
    events: list[RoomEvent] = []
    joining = data.get("joining")
    if isinstance(joining, dict):
        events.append(ParticipantJoining(room, _int(joining.get("id")), joining.get("display")))
    publishers = data.get("publishers")
    if isinstance(publishers, list):
        events.extend(_published(room, p) for p in publishers if isinstance(p, dict))
    # Others' events carry their id. Ours say "ok": as replies (with a transaction, never
    # here), or unsolicited when a moderator removed us.
    if isinstance(data.get("unpublished"), int):
        events.append(Unpublished(room, data["unpublished"]))
    leaving = data.get("leaving")
    if isinstance(leaving, int):
        events.append(ParticipantLeaving(room, leaving))
    elif leaving == "ok":
        events.append(RemovedFromRoom(room, str(data.get("reason", ""))))
    if isinstance(data.get("kicked"), int):  # the others hear only this, no `leaving`
        events.append(ParticipantLeaving(room, data["kicked"], kicked=True))
    return events


def _published(room: int, publisher: JSON) -> Published:
    streams = tuple(
        PublishedStream(
            type=str(s.get("type", "")),
            mid=str(s.get("mid", "")),
            mindex=_int(s.get("mindex")),
            codec=s.get("codec"),
            disabled=bool(s.get("disabled", False)),
            description=s.get("description"),
        )
        for s in publisher.get("streams", [])
        if isinstance(s, dict)
    )
    return Published(room, _int(publisher.get("id")), publisher.get("display"), streams)


def _int(value: Any) -> int:
    return value if isinstance(value, int) else -1


# --- roles ------------------------------------------------------------------------------
class VideoRoomAdmin:
    """Room management. `admin_key` is the plugin's (JanusOptions.admin_key): with one
    configured, Janus refuses `create` without it (UNAUTHORIZED)."""

    def __init__(self, handle: JanusHandle, admin_key: str | None = None) -> None:
        self.handle = handle
        self._admin_key = admin_key

    async def create(self, settings: RoomSettings) -> int:
        """Create the room (ROOM_EXISTS if its id is taken); returns its id."""
        body = settings.request()
        if self._admin_key is not None:
            body["admin_key"] = self._admin_key
        data = await self.handle.request(body)
        return int(data["room"])

    async def destroy(self, room: int, secret: str | None = None) -> None:
        """Destroy the room; its participants get `RoomDestroyed`. NO_SUCH_ROOM if absent."""
        await self.handle.request(_with_secret({"request": "destroy", "room": room}, secret))

    async def exists(self, room: int) -> bool:
        data = await self.handle.request({"request": "exists", "room": room})
        return bool(data.get("exists"))

    async def kick(self, room: int, id: int, secret: str | None = None) -> None:
        """Remove a participant (they may join again unless their token is removed first).
        They get `RemovedFromRoom`; the others `ParticipantLeaving(kicked=True)`."""
        await self.handle.request(_with_secret({"request": "kick", "room": room, "id": id}, secret))

    async def list_participants(self, room: int) -> list[Participant]:
        """Everyone joined as a publisher, publishing or not (subscribers are not listed)."""
        data = await self.handle.request({"request": "listparticipants", "room": room})
        return [
            Participant(_int(p.get("id")), p.get("display"), bool(p.get("publisher", False)))
            for p in data.get("participants", [])
            if isinstance(p, dict)
        ]

    async def allowed(
        self,
        room: int,
        action: AllowedAction,
        tokens: Sequence[str] = (),
        secret: str | None = None,
    ) -> list[str]:
        """Change the room's token ACL: `add`/`remove` tokens, or `enable`/`disable` the
        check. Returns the complete list of allowed tokens after the change."""
        body: JSON = {"request": "allowed", "room": room, "action": action}
        if action in ("add", "remove"):
            body["allowed"] = list(tokens)
        data = await self.handle.request(_with_secret(body, secret))
        return [str(t) for t in data.get("allowed", [])]


class VideoRoomPublisher:
    """A participant: join, then optionally publish an offer. Read `events()` for the room."""

    def __init__(self, handle: JanusHandle) -> None:
        self.handle = handle
        self.joined: Joined | None = None

    async def join(
        self,
        room: int,
        *,
        id: int | None = None,
        display: str | None = None,
        token: str | None = None,
        pin: str | None = None,
    ) -> Joined:
        """Join `room` (UNAUTHORIZED for a wrong pin or token, ID_EXISTS for a taken id)."""
        body: JSON = {"request": "join", "ptype": "publisher", "room": room}
        for key, value in (("id", id), ("display", display), ("token", token), ("pin", pin)):
            if value is not None:
                body[key] = value
        data, _ = await self.handle.message(body)
        joined_room = _int(data.get("room"))
        self.joined = Joined(
            room=joined_room,
            id=_int(data.get("id")),
            private_id=_int(data.get("private_id")),
            description=data.get("description"),
            publishers=tuple(
                _published(joined_room, p)
                for p in data.get("publishers", [])
                if isinstance(p, dict)
            ),
            attendees=tuple(
                Participant(_int(a.get("id")), a.get("display"))
                for a in data.get("attendees", [])
                if isinstance(a, dict)
            ),
        )
        return self.joined

    async def publish(self, offer_sdp: str, *, display: str | None = None) -> str:
        """Publish what `offer_sdp` offers (a complete offer, candidates included: no
        trickle) and return Janus's answer. Others get `Published` once media is up."""
        body: JSON = {"request": "publish"}
        if display is not None:
            body["display"] = display
        data, jsep = await self.handle.message(body, _jsep("offer", offer_sdp))
        if data.get("configured") != "ok" or jsep is None:
            raise JanusError(0, f"publish: no answer from Janus ({data})")
        return str(jsep["sdp"])

    async def unpublish(self) -> None:
        await self.handle.message({"request": "unpublish"})

    async def leave(self) -> None:
        """Leave the room (unpublishing first if publishing); the handle stays attached."""
        await self.handle.message({"request": "leave"})

    async def events(self) -> AsyncIterator[RoomEvent | JanusEvent]:
        """Room events, parsed; core events (`webrtcup`, `hangup`, `media`, `slowlink`,
        `detached`) as they came. Ends when the handle closes."""
        async for event in self.handle.events():
            if event.kind != "event":
                yield event
            else:
                for room_event in parse_room_event(event):
                    yield room_event


@dataclass(frozen=True)
class FeedStream:
    """One stream of a publisher to subscribe to (a bare feed id means all its streams)."""

    feed: int
    mid: str


class VideoRoomSubscriber:
    """Receives publishers' streams on one PeerConnection: `subscribe`, answer, `start`.

    Data: Janus relays a publisher's messages only once a data channel is open on the
    subscriber's association, so the answering peer must create one itself (any label; janus.js
    does the same). Messages then arrive on a channel Janus opens, labelled with the sending
    publisher's id. When a subscribed publisher goes, Janus sends this handle an `updated`
    event with a new offer (its m-lines inactive): answer it with `start`, or detach."""

    def __init__(self, handle: JanusHandle) -> None:
        self.handle = handle

    async def subscribe(
        self,
        room: int,
        feeds: Sequence[int | FeedStream],
        *,
        private_id: int | None = None,
        pin: str | None = None,
    ) -> Subscription:
        """Ask for `feeds` (NO_SUCH_FEED until a publisher's PeerConnection is up); returns
        Janus's offer, to answer with `start`."""
        streams = [
            {"feed": f} if isinstance(f, int) else {"feed": f.feed, "mid": f.mid} for f in feeds
        ]
        body: JSON = {"request": "join", "ptype": "subscriber", "room": room, "streams": streams}
        if private_id is not None:
            body["private_id"] = private_id
        if pin is not None:
            body["pin"] = pin
        data, jsep = await self.handle.message(body)
        if jsep is None or jsep.get("type") != "offer":
            raise JanusError(0, f"subscribe: no offer from Janus ({data})")
        return Subscription(
            offer_sdp=str(jsep["sdp"]),
            streams=tuple(
                SubscribedStream(
                    mid=str(s.get("mid", "")),
                    type=str(s.get("type", "")),
                    feed_id=s.get("feed_id"),
                    feed_mid=s.get("feed_mid"),
                    feed_display=s.get("feed_display"),
                )
                for s in data.get("streams", [])
                if isinstance(s, dict)
            ),
        )

    async def start(self, answer_sdp: str) -> None:
        """Send our answer; media flows once ICE and DTLS are up (`webrtcup`)."""
        await self.handle.message({"request": "start"}, _jsep("answer", answer_sdp))

    async def leave(self) -> None:
        await self.handle.message({"request": "leave"})


def _jsep(kind: str, sdp: str) -> JSON:
    return {"type": kind, "sdp": sdp, "trickle": False}  # aiortc gathers fully: no trickle


def _with_secret(body: JSON, secret: str | None) -> JSON:
    return body if secret is None else body | {"secret": secret}
