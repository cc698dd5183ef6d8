"""The live translator in a real room (Janus, real Whisper): a Spanish and a German speaker
(espeak-ng voices; the language is in their join tokens) and an English listener. Each
utterance reaches the listener as English captions with the expected key words (a pause may
split it into two turns: both count); nobody gets their own words back; the speakers read
each other through the LLM."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.rooms.conftest import RoomApi
from tests.rooms.test_rooms import speech
from voxroom.bench.app_rooms import arrivals, quiet_for
from voxroom.bench.translate import found

pytestmark = pytest.mark.slow
LINES = [
    (
        "ana",
        "es",
        "El restaurante abre a las ocho de la noche y la comida es muy buena.",
        ("restaurant", "night", "food", "good"),
    ),
    (
        "dieter",
        "de",
        "Ich habe meinen Schlüssel im Auto vergessen und kann nicht nach Hause.",
        ("key", "car", "home"),
    ),
]


def translation_from(who: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m.get("type") == "translation" and m["final"] and m["participant"] == who


async def test_spanish_and_german_become_english_captions(rooms: RoomApi, speech_dir: Path) -> None:
    room = await rooms.create_room(name="translated", agent="translate")
    assert room["policy"] == "silent" and room["agent"] == "translator"
    ben = await rooms.join(room["id"], "ben", "Ben", language="en")
    speakers = {
        "ana": await rooms.join(room["id"], "ana", "Ana", language="es"),
        "dieter": await rooms.join(room["id"], "dieter", "Dieter", language="de"),
    }
    try:
        hello = await ben.wait_for(lambda m: m.get("type") == "translator", 10)
        assert hello["language"] == "en"
        for identity, language, text, keywords in LINES:
            client = speakers[identity]
            start, ended = await client.speak_timed(*speech(speech_dir, text, language))
            english = translation_from(identity)
            await ben.wait_for(english, 40, after=ended)
            await quiet_for(ben, english, 3.0, after=ended, timeout=30)
            latest = {m["turn_id"]: (t, m) for t, m in arrivals(ben, english, start)}
            captions = sorted(latest.values(), key=lambda pair: pair[0])  # merged turns: last
            said = " ".join(m["text"] for _, m in captions)
            delay_ms = 1000 * (captions[-1][0] - ended)
            print(f"\n{language}: {said!r} ({delay_ms:.0f} ms after the end)")
            assert all(
                m["language"] == "en" and m["source_language"] == language for _, m in captions
            )
            assert len(found(keywords, said)) >= len(keywords) / 2, (said, keywords)
        # The other speaker read it in their own language (through the LLM).
        other = speakers["dieter"]
        await other.wait_for(translation_from("ana"), 60)
        spanish_for_dieter = next(m for _, m in other.messages if translation_from("ana")(m))
        assert spanish_for_dieter["language"] == "de" and spanish_for_dieter["by"] == "llm"
        for identity, client in speakers.items():  # nobody gets their own words back
            assert not any(translation_from(identity)(m) for _, m in client.messages)
    finally:
        for client in (ben, *speakers.values()):
            await client.leave()
        await rooms.end_room(room["id"])
