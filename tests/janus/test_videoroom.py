"""transport/janus/videoroom.py against a real Janus, with real aiortc peers on 127.0.0.2."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from voxroom.transport.janus.api import JanusConnection, JanusSession
from voxroom.transport.janus.errors import JanusError
from voxroom.transport.janus.videoroom import (
    MISSING_ELEMENT,
    NO_SUCH_ROOM,
    ROOM_EXISTS,
    UNAUTHORIZED,
    Participant,
    ParticipantJoining,
    ParticipantLeaving,
    Published,
    RemovedFromRoom,
    RoomDestroyed,
    RoomSettings,
    Unpublished,
    VideoRoomAdmin,
    VideoRoomPublisher,
    VideoRoomSubscriber,
)

from .conftest import ADMIN_KEY
from .peers import Receiver, TonePublisher, next_of, tone

ROOM = 4242


@pytest.fixture
async def session(connection: JanusConnection) -> AsyncIterator[JanusSession]:
    made = await connection.create_session()
    yield made
    await made.destroy()


@pytest.fixture
async def admin(session: JanusSession) -> VideoRoomAdmin:
    return VideoRoomAdmin(await session.attach(), admin_key=ADMIN_KEY)


async def test_create_exists_destroy(admin: VideoRoomAdmin) -> None:
    assert not await admin.exists(ROOM)
    assert await admin.create(RoomSettings(ROOM, description="lobby", secret="s")) == ROOM
    assert await admin.exists(ROOM)
    assert await admin.list_participants(ROOM) == []
    with pytest.raises(JanusError) as taken:
        await admin.create(RoomSettings(ROOM))
    assert taken.value.code == ROOM_EXISTS
    with pytest.raises(JanusError) as wrong_secret:
        await admin.destroy(ROOM, secret="not it")
    assert wrong_secret.value.code == UNAUTHORIZED
    await admin.destroy(ROOM, secret="s")
    assert not await admin.exists(ROOM)
    with pytest.raises(JanusError) as gone:
        await admin.destroy(ROOM)
    assert gone.value.code == NO_SUCH_ROOM


async def test_only_the_admin_key_creates_rooms(session: JanusSession) -> None:
    for key in (None, "guess"):
        with pytest.raises(JanusError):  # 429 without a key, 433 with a wrong one
            await VideoRoomAdmin(await session.attach(), admin_key=key).create(RoomSettings(ROOM))
    assert not await VideoRoomAdmin(await session.attach()).exists(ROOM)


async def test_tokens_and_pin_guard_joining(session: JanusSession, admin: VideoRoomAdmin) -> None:
    await admin.create(RoomSettings(ROOM, secret="s", pin="1234", allowed=["alice-token"]))
    refused = [
        ({"token": "alice-token"}, MISSING_ELEMENT),  # no pin
        ({"token": "alice-token", "pin": "0000"}, UNAUTHORIZED),
        ({"pin": "1234"}, UNAUTHORIZED),  # no token
        ({"pin": "1234", "token": "bob-token"}, UNAUTHORIZED),  # not on the list
    ]
    for credentials, code in refused:
        with pytest.raises(JanusError) as denied:
            await VideoRoomPublisher(await session.attach()).join(
                ROOM, token=credentials.get("token"), pin=credentials.get("pin")
            )
        assert denied.value.code == code, credentials
    alice = await VideoRoomPublisher(await session.attach()).join(
        ROOM, display="alice", token="alice-token", pin="1234"
    )
    assert alice.room == ROOM and alice.private_id > 0

    assert await admin.allowed(ROOM, "add", ["bob-token"], secret="s") == [
        "alice-token",
        "bob-token",
    ]
    bob = VideoRoomPublisher(await session.attach())
    await bob.join(ROOM, id=77, display="bob", token="bob-token", pin="1234")
    participants = await admin.list_participants(ROOM)
    assert sorted(participants, key=lambda p: p.display or "") == [
        Participant(alice.id, "alice"),
        Participant(77, "bob"),
    ]
    assert await admin.allowed(ROOM, "remove", ["alice-token"], secret="s") == ["bob-token"]


@pytest.mark.usefixtures("ice_on_veth")
async def test_subscriber_receives_the_publishers_audio_and_data(
    session: JanusSession, admin: VideoRoomAdmin
) -> None:
    await admin.create(RoomSettings(ROOM))
    publisher = VideoRoomPublisher(await session.attach())
    await publisher.join(ROOM, id=7, display="alice")
    sender = TonePublisher()
    receiver = Receiver()
    try:
        sender.audio.push(tone(3.0), 48000)
        await sender.publish(publisher)

        subscriber = VideoRoomSubscriber(await session.attach())
        subscription = await subscriber.subscribe(ROOM, [7])
        assert [(s.type, s.feed_id) for s in subscription.streams] == [
            ("audio", 7),
            ("data", None),  # one data m-line for all the feeds' channels
        ]
        assert subscription.streams[0].feed_display == "alice"
        await receiver.subscribe(subscriber, subscription.offer_sdp)

        async with asyncio.timeout(5):
            await receiver.loud(25)  # half a second of the tone
            while not receiver.messages:
                sender.channel.send("hello from alice")
                await asyncio.sleep(0.1)
        assert receiver.messages[0] == "hello from alice"
        # Janus relays on a channel it opens, labelled with the publisher's id.
        assert receiver.channel_labels == ["7"]
    finally:
        await receiver.close()
        await sender.close()


@pytest.mark.usefixtures("ice_on_veth")
async def test_participant_events_reach_another_publisher(
    session: JanusSession, admin: VideoRoomAdmin
) -> None:
    await admin.create(RoomSettings(ROOM))
    watcher = VideoRoomPublisher(await session.attach())
    await watcher.join(ROOM, display="agent")
    events = watcher.events()

    alice = VideoRoomPublisher(await session.attach())
    joined = await alice.join(ROOM, id=7, display="alice")
    assert [a.display for a in joined.attendees] == ["agent"]  # notify_joining
    assert await next_of(events, ParticipantJoining) == ParticipantJoining(ROOM, 7, "alice")

    sender = TonePublisher()
    try:
        await sender.publish(alice)
        published = await next_of(events, Published)
        assert (published.id, published.display) == (7, "alice")
        assert published.has("audio") and published.has("data") and not published.has("video")
        assert published.streams[0].codec == "opus"

        late = await VideoRoomPublisher(await session.attach()).join(ROOM, display="late")
        assert [p.id for p in late.publishers] == [7]

        await alice.unpublish()
        assert await next_of(events, Unpublished) == Unpublished(ROOM, 7)
        await alice.leave()
        assert await next_of(events, ParticipantLeaving) == ParticipantLeaving(ROOM, 7)
    finally:
        await sender.close()
    await admin.destroy(ROOM)
    assert await next_of(events, RoomDestroyed) == RoomDestroyed(ROOM)


async def test_kicked_participants_are_told_and_so_are_the_others(
    session: JanusSession, admin: VideoRoomAdmin
) -> None:
    await admin.create(RoomSettings(ROOM, secret="s"))
    watcher = VideoRoomPublisher(await session.attach())
    joined = await watcher.join(ROOM, display="agent")
    bob = VideoRoomPublisher(await session.attach())
    await bob.join(ROOM, id=9, display="bob")
    await admin.kick(ROOM, 9, secret="s")
    assert await next_of(bob.events(), RemovedFromRoom) == RemovedFromRoom(ROOM, "kicked")
    assert await next_of(watcher.events(), ParticipantLeaving) == ParticipantLeaving(
        ROOM, 9, kicked=True
    )
    assert [p.id for p in await admin.list_participants(ROOM)] == [joined.id]
