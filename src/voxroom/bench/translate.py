"""`voxroom bench translate`: the live translator in a real room (Janus, the local models).

1. Into English (the local default: the speech recognizer translates, from the audio): an
   English listener, and people who speak Spanish, German and Italian (espeak-ng voices; the
   language is in their join token), each joining in turn to say their sentences. Measured
   at the listener's client, for each utterance:
   - `caption_delay_ms`: the last sample of the utterance sent → its final English caption
     received (when the translator split it at a pause into two turns: the last caption);
   - `keyword_recall`: the key words of each sentence found in its English captions (all
     sentences together; `per_language` too).
2. Out of English (through the LLM): the listener speaks English sentences to a Spanish
   reader: `llm_caption_delay_ms`, the same delay for the Spanish caption.

One speaker at a time in part 1: with several languages in a room, every turn is also
translated by the LLM for each other language, and the packaged Gemma on 2 cores (1.5-3 s a
sentence) then competes with the recognizer for the CPU (docs/benchmarks.md).

Runs in a private network namespace (re-executing itself under `unshare` when needed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.table import Table

from voxroom.bench.app_rooms import (
    AppRooms,
    Message,
    Voices,
    app_server_env,
    arrivals,
    machine,
    quiet_for,
)
from voxroom.bench.harness import running_server
from voxroom.bench.latency import percentile
from voxroom.bench.load import log_errors
from voxroom.bench.netns import VETH_ADDRESS
from voxroom.client import RoomClient
from voxroom.transport.webrtc import tuning

TARGETS = {"caption_delay_ms_p50": 1000.0, "keyword_recall": 0.8}
SPEAKERS = {"es": ("ana", "Ana"), "de": ("dieter", "Dieter"), "it": ("giulia", "Giulia")}
LISTENER = ("lee", "Lee")
# (language, sentence, the key words an English translation must contain)
SENTENCES: list[tuple[str, str, tuple[str, ...]]] = [
    (
        "es",
        "Buenos días. ¿Dónde está la estación de tren? Necesito comprar un billete para Madrid.",
        ("morning", "station", "train", "ticket", "madrid"),
    ),
    (
        "de",
        "Guten Morgen. Mein Computer startet nicht mehr, können Sie mir bitte helfen?",
        ("morning", "computer", "help"),
    ),
    (
        "it",
        "Buongiorno. Vorrei prenotare una camera per due notti, per favore.",
        ("morning", "room", "two", "nights"),
    ),
    (
        "es",
        "El restaurante abre a las ocho de la noche y la comida es muy buena.",
        ("restaurant", "night", "food", "good"),
    ),
    (
        "de",
        "Ich habe meinen Schlüssel im Auto vergessen und kann nicht nach Hause.",
        ("key", "car", "home"),
    ),
    (
        "it",
        "Mio fratello lavora in un grande ospedale nel centro della città.",
        ("brother", "hospital", "city"),
    ),
    (
        "es",
        "Mañana por la mañana vamos a visitar el museo con los niños.",
        ("tomorrow", "visit", "museum", "children"),
    ),
    (
        "de",
        "Meine Schwester wohnt in Hamburg und arbeitet in einer Bank.",
        ("sister", "hamburg", "bank"),
    ),
    ("it", "La mia macchina è rotta e devo andare al lavoro.", ("car", "broken", "work")),
    (
        "es",
        "Mi hermano trabaja en un hospital grande en el centro de la ciudad.",
        ("brother", "hospital", "city"),
    ),
    ("de", "Der Zug nach Berlin hat heute eine Stunde Verspätung.", ("train", "berlin", "hour")),
    ("it", "Il treno per Roma parte alle nove di mattina.", ("train", "rome", "nine", "morning")),
]
WARM_UP = ("es", "Hola, buenas tardes a todos.")
OUT_OF_ENGLISH_READER = "es"
OUT_OF_ENGLISH = [
    "Good morning, the train station is next to the big hotel.",
    "My brother works in a hospital in the center of the city.",
    "The restaurant opens at eight o'clock in the evening.",
]
SETTLE_S = 2.5
TIMEOUT_S = 30.0


def stem(word: str) -> str:
    return word.lower().removesuffix("s")


def found(keywords: tuple[str, ...], text: str) -> list[str]:
    said = {stem(w) for w in re.findall(r"[A-Za-z]+", text)}
    return [k for k in keywords if stem(k) in said]


def _translation(identity: str, final: bool = True) -> Callable[[Message], bool]:
    def match(m: Message) -> bool:
        return bool(
            m.get("type") == "translation" and m["participant"] == identity and m["final"] == final
        )

    return match


async def _utterance(
    speaker: RoomClient, identity: str, reader: RoomClient, audio: Any
) -> dict[str, Any]:
    """Speak; the reader's final captions of it once they have settled. `delay_ms` is None
    when no caption came after the utterance ended (its last words were not captioned)."""
    start, ended = await speaker.speak_timed(*audio)
    caption = _translation(identity)
    with contextlib.suppress(TimeoutError):
        await reader.wait_for(caption, TIMEOUT_S, after=ended)  # the one of its end
    await quiet_for(reader, caption, SETTLE_S, after=ended, timeout=TIMEOUT_S)
    # A later final caption of a turn replaces the earlier one (the turn went on: merged).
    latest = {m["turn_id"]: (t, m) for t, m in arrivals(reader, caption, start)}
    captions = sorted(latest.values(), key=lambda pair: pair[0])
    last = captions[-1][0] if captions else None
    return {
        "translated": " ".join(m["text"] for _, m in captions),
        "captions": len(captions),
        "by": sorted({m["by"] for _, m in captions}),
        "delay_ms": round(1000 * (last - ended), 1) if last and last > ended else None,
        "source_text": " ".join(m["source_text"] for _, m in captions),
    }


async def _room(api: AppRooms, voices: Voices) -> dict[str, Any]:
    room = await api.create_room("translate", "bench translation")
    listener = await api.join(room["id"], *LISTENER, language="en")
    lines: list[dict[str, Any]] = []
    out_of_english: list[dict[str, Any]] = []
    own_words_returned = 0
    try:
        for language, (identity, name) in SPEAKERS.items():
            speaker = await api.join(room["id"], identity, name, language=language)
            try:
                if language == WARM_UP[0]:  # not measured: the first decode warms the model up
                    await _utterance(speaker, identity, listener, voices.get(WARM_UP[1], language))
                for said_in, text, keywords in SENTENCES:
                    if said_in != language:
                        continue
                    heard = await _utterance(
                        speaker, identity, listener, voices.get(text, language)
                    )
                    hits = found(keywords, heard["translated"])
                    lines.append(
                        {
                            "language": language,
                            "text": text,
                            "keywords": list(keywords),
                            "found": hits,
                            **heard,
                        }
                    )
                if language == OUT_OF_ENGLISH_READER:
                    for text in OUT_OF_ENGLISH:
                        heard = await _utterance(
                            listener, LISTENER[0], speaker, voices.get(text, "en-us")
                        )
                        out_of_english.append({"text": text, **heard})
                own_words_returned += sum(
                    1 for _, m in speaker.messages if _translation(identity)(m)
                )
            finally:
                await speaker.leave()
    finally:
        await listener.leave()
        await api.end_room(room["id"])
    return {
        "lines": lines,
        "out_of_english": out_of_english,
        "own_words_returned": own_words_returned,  # must be 0: nobody reads themselves
        "session_id": room["session_id"],
    }


def score(lines: list[dict[str, Any]], out_of_english: list[dict[str, Any]]) -> dict[str, Any]:
    delays = [line["delay_ms"] for line in lines if line["delay_ms"] is not None]
    llm = [line["delay_ms"] for line in out_of_english if line["delay_ms"] is not None]
    per_language: dict[str, dict[str, float]] = {}
    for language in SPEAKERS:
        mine = [line for line in lines if line["language"] == language]
        wanted = sum(len(line["keywords"]) for line in mine)
        per_language[language] = {
            "keyword_recall": round(sum(len(line["found"]) for line in mine) / wanted, 3),
            "caption_delay_ms_p50": percentile(
                [line["delay_ms"] for line in mine if line["delay_ms"] is not None] or [0.0], 0.5
            ),
        }
    wanted = sum(len(line["keywords"]) for line in lines)
    return {
        "caption_delay_ms": {
            "p50": percentile(delays, 0.5) if delays else None,
            "p90": percentile(delays, 0.9) if delays else None,
        },
        # Utterances whose end got no caption (nothing recognized, or lost): not in the delay.
        "uncaptioned": sum(1 for line in lines if line["delay_ms"] is None),
        "keyword_recall": round(sum(len(line["found"]) for line in lines) / wanted, 3),
        "llm_caption_delay_ms": {
            "p50": percentile(llm, 0.5) if llm else None,
            "p90": percentile(llm, 0.9) if llm else None,
        },
        "per_language": per_language,
    }


async def _run(url: str, workdir: Path) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        room = await _room(AppRooms(url, http), Voices(workdir))
    report = score(room["lines"], room["out_of_english"])
    report["targets"] = TARGETS
    report["met"] = {
        "caption_delay_ms_p50": report["caption_delay_ms"]["p50"] is not None
        and report["caption_delay_ms"]["p50"] <= TARGETS["caption_delay_ms_p50"],
        "keyword_recall": report["keyword_recall"] >= TARGETS["keyword_recall"],
    }
    report["own_words_returned"] = room["own_words_returned"]
    report["lines"] = room["lines"]
    report["out_of_english"] = room["out_of_english"]
    report["session_id"] = room["session_id"]
    return report


def run_translate_bench(interface: str) -> dict[str, Any]:
    """The bench against a fresh `voxroom dev` whose Janus runs ICE on `interface`."""
    tuning.apply(jitter_prefetch=0, host_addresses=[VETH_ADDRESS])
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="voxroom-translate-") as tmp:
        workdir = Path(tmp)
        log_path = workdir / "server.log"
        with running_server(log_path, env=app_server_env(interface)) as url:
            report = asyncio.run(_run(url, workdir))
        report["server_errors"] = log_errors(log_path.read_text(errors="replace"))
    report["run_s"] = round(time.monotonic() - started, 1)
    report["machine"] = machine()
    return report


def print_translate_report(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    console = Console()
    met, delay = report["met"], report["caption_delay_ms"]
    table = Table("figure", "value", "target", "met")
    table.add_row(
        "caption delay p50 / p90 ms",
        f"{delay['p50']} / {delay['p90']}",
        "≤ 1000",
        "yes" if met["caption_delay_ms_p50"] else "[red]NO",
    )
    table.add_row(
        "keyword recall",
        str(report["keyword_recall"]),
        "≥ 0.8",
        "yes" if met["keyword_recall"] else "[red]NO",
    )
    llm = report["llm_caption_delay_ms"]
    table.add_row("LLM caption delay p50 / p90 ms", f"{llm['p50']} / {llm['p90']}", "", "")
    console.print(table)
    lines = Table("lang", "said", "heard", "English", "found", "ms")
    for line in report["lines"]:
        lines.add_row(
            line["language"],
            line["text"],
            line["source_text"],
            line["translated"],
            f"{len(line['found'])}/{len(line['keywords'])}",
            str(line["delay_ms"]),
        )
    console.print(lines)
