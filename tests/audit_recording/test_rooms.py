"""Rooms: several participants on the session clock, their mix, and each one's own file."""

from __future__ import annotations

import re
import threading
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from voxroom.audit import wavfiles
from voxroom.audit.recorder import RecordedFile, Recording, SessionRecorder
from voxroom.audit.wavfiles import participant_file_name

from .synthetic import FakeClock, Marker, Side, marker_offset, marker_strength, play, read_wav

RATE = 16000
TOLERANCE = 0.020
PLAIN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")  # what the audit API serves


def person(markers: tuple[Marker, ...], seed: int, **script: Any) -> Side:
    return Side(16000, 320, True, markers, jitter=(-0.03, 0.03), seed=seed, **script)


def agent(markers: tuple[Marker, ...] = ()) -> Side:
    return Side(48000, 960, False, markers, jitter=(0.0, 0.004), seed=99)


async def record_room(
    directory: Path, people: dict[str, Side], until: float, per_participant: bool = True
) -> Recording:
    clock = FakeClock()
    recorder = SessionRecorder(directory, clock=clock, per_participant=per_participant)
    sides = {who: (side, partial(recorder.inbound, who)) for who, side in people.items()}
    play(clock, {**sides, "agent": (agent(), recorder.outbound)}, until=until)
    return await recorder.close()


def listing(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def own_files(recording: Recording, people: dict[str, Side]) -> list[RecordedFile]:
    return [recording.participants[who] for who in people]


def mono(path: Path) -> np.ndarray:
    samples, rate = read_wav(path)
    assert rate == RATE and samples.shape[1] == 1
    return samples[:, 0]


def summed(*tracks: np.ndarray) -> np.ndarray:
    total = np.zeros(tracks[0].size, dtype=np.int32)
    for track in tracks:
        total += track
    return np.clip(total, -32768, 32767).astype(np.int16)


def span(track: np.ndarray, start: float, end: float) -> np.ndarray:
    return track[round(start * RATE) : round(end * RATE)]


def assert_alone(own: np.ndarray, others: list[np.ndarray], marker: Marker) -> None:
    """`marker` is on time in `own`, and nowhere in the others."""
    assert abs(marker_offset(own, RATE, marker)) <= TOLERANCE, marker
    _, here = marker_strength(own, RATE, marker)
    for other in others:
        _, there = marker_strength(other, RATE, marker)
        assert there < 0.05 * here, marker


ALICE = (Marker(1.0, 600.0), Marker(4.2, 650.0))
BOB = (Marker(2.5, 1400.0), Marker(4.21, 1500.0))  # one while Alice's sounds: in the mix both


async def test_the_user_file_is_the_sum_and_each_participant_file_holds_one_voice(
    tmp_path: Path,
) -> None:
    people = {"alice": person(ALICE, seed=1), "bob": person(BOB, seed=2, gaps=((0.0, 0.5),))}
    recording = await record_room(tmp_path, people, until=6.0)

    assert list(recording.participants) == ["alice", "bob"]  # join order
    names = [file.path.name for file in recording.participants.values()]
    assert names == ["participant-1-alice.wav", "participant-2-bob.wav"]
    assert listing(tmp_path) == sorted(["user.wav", "agent.wav", "stereo.wav", *names])
    files = [recording.user, recording.agent, recording.stereo, *recording.participants.values()]
    assert {file.frames for file in files} == {recording.user.frames}  # one length for all
    assert abs(recording.user.seconds - 6.0) <= TOLERANCE

    user, alice, bob = (mono(f.path) for f in (recording.user, *own_files(recording, people)))
    assert np.array_equal(user, summed(alice, bob))
    stereo, _ = read_wav(recording.stereo.path)
    assert np.array_equal(stereo[:, 0], user)
    assert np.array_equal(stereo[:, 1], mono(recording.agent.path))
    for marker in ALICE:
        assert_alone(alice, [bob], marker)
        assert abs(marker_offset(user, RATE, marker)) <= TOLERANCE
    for marker in BOB:
        assert_alone(bob, [alice], marker)
        assert abs(marker_offset(user, RATE, marker)) <= TOLERANCE
    assert set(recording.participant_tracks) == {"alice", "bob"}
    assert recording.user_track.padded_seconds == sum(
        stats.padded_seconds for stats in recording.participant_tracks.values()
    )


async def test_loud_voices_are_clipped_in_the_mix_not_wrapped(tmp_path: Path) -> None:
    people = {"a": person((), seed=3, noise=25000), "b": person((), seed=4, noise=25000)}
    recording = await record_room(tmp_path, people, until=2.0)
    user, a, b = (mono(f.path) for f in (recording.user, *own_files(recording, people)))
    assert np.array_equal(user, summed(a, b))
    assert (user == 32767).any() and (user == -32768).any()


async def test_a_participant_joining_two_seconds_late_starts_with_silence(
    tmp_path: Path,
) -> None:
    late = (Marker(2.3, 1400.0), Marker(5.0, 1500.0))
    people = {"alice": person(ALICE, seed=1), "bob": person(late, seed=2, gaps=((0.0, 2.0),))}
    recording = await record_room(tmp_path, people, until=7.0)

    user, alice, bob = (mono(f.path) for f in (recording.user, *own_files(recording, people)))
    assert alice.size == bob.size == user.size
    assert not span(bob, 0.0, 1.97).any()  # file position is session time: silence before
    assert span(bob, 2.03, 2.2).any()
    for marker in late:
        assert_alone(bob, [alice], marker)
        assert abs(marker_offset(user, RATE, marker)) <= TOLERANCE
    assert np.array_equal(span(user, 0.0, 1.97), span(alice, 0.0, 1.97))
    assert np.array_equal(user, summed(alice, bob))
    assert recording.participant_tracks["bob"].padded_seconds >= 1.97


async def test_a_first_participant_after_a_while_of_the_agent_alone(tmp_path: Path) -> None:
    # Until the first person joins the room mix is silence, as long as the agent's track.
    late = (Marker(12.5, 900.0),)
    people = {"carol": person(late, seed=5, gaps=((0.0, 12.0),))}
    recording = await record_room(tmp_path, people, until=15.0, per_participant=False)

    user = mono(recording.user.path)
    assert user.size == recording.agent.frames == recording.stereo.frames
    assert abs(user.size / RATE - 15.0) <= TOLERANCE
    assert not span(user, 0.0, 11.97).any()
    assert abs(marker_offset(user, RATE, late[0])) <= TOLERANCE
    # Not recorded per participant: the three files only, still each one's stats.
    assert recording.participants == {}
    assert listing(tmp_path) == ["agent.wav", "stereo.wav", "user.wav"]
    assert list(recording.participant_tracks) == ["carol"]
    assert recording.user_track == recording.participant_tracks["carol"]


async def test_a_participant_who_leaves_is_silence_to_the_end_and_may_come_back(
    tmp_path: Path,
) -> None:
    back = Marker(7.5, 800.0)
    people = {
        "alice": person((ALICE[0], back), seed=1, gaps=((3.0, 4.0),)),  # away from 3 s to 7 s
        "bob": person(BOB, seed=2, gaps=((5.0, 60.0),)),  # gone at 5 s
    }
    recording = await record_room(tmp_path, people, until=10.0)

    user, alice, bob = (mono(f.path) for f in (recording.user, *own_files(recording, people)))
    assert user.size == alice.size == bob.size == recording.agent.frames
    assert not span(bob, 5.03, 10.0).any()
    assert not span(alice, 3.03, 6.97).any()
    assert_alone(alice, [bob], back)  # the same track, on time after the gap
    assert np.array_equal(span(user, 5.03, 10.0), span(alice, 5.03, 10.0))


async def test_participant_files_are_opened_on_the_writer_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[tuple[str, int]] = []

    def spy(path: Path, *args: Any, **kwargs: Any) -> Any:
        opened.append((Path(path).name, threading.get_ident()))
        return open(path, *args, **kwargs)

    monkeypatch.setattr(wavfiles, "open", spy, raising=False)
    late = person((), seed=2, gaps=((0.0, 1.5),))  # opened mid-session
    await record_room(tmp_path, {"alice": person((), seed=1), "bob": late}, until=3.0)
    assert {name for name, _ in opened} >= {"participant-1-alice.wav", "participant-2-bob.wav"}
    assert threading.get_ident() not in {thread for _, thread in opened}


async def test_an_identity_becomes_a_plain_file_name(tmp_path: Path) -> None:
    identity = "Jane Doe <jane@example.com> / ../../etc"
    recording = await record_room(tmp_path, {identity: person((), seed=1)}, until=1.0)
    (file,) = recording.participants.values()
    assert file.path.parent == tmp_path
    assert file.path.name == "participant-1-Jane_Doe_jane_example_com_etc.wav"
    assert list(recording.participants) == [identity]

    assert participant_file_name(12, "x" * 100) == f"participant-12-{'x' * 40}.wav"
    assert participant_file_name(3, "") == "participant-3.wav"
    for name in (file.path.name, participant_file_name(7, "ü" * 50), participant_file_name(1, ".")):
        assert PLAIN_NAME.fullmatch(name), name
