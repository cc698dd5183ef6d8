"""Live translator: everyone in the room reads everyone else in their own language.

Each participant has a language: their join token's `lang`, or the one they choose in the
page (an app message `{"type": "language", "language": "fr"}`), else `default_language`. The
session hears each person in their language (`session.set_language`); for every finished
turn, each listener whose language differs gets a `translation` caption of it, final (and
interim while a long turn goes on), addressed to them only:

- into English: Whisper's translate task (local, any language), decoded by the session's
  recognizer in the same pass as the transcript (`english_transcripts`), so the English
  caption is ready when the transcript is;
- into anything else: the session's LLM, from the words as heard (the packaged Gemma does
  short sentences; an OpenAI-compatible model does better).

`SpokenTranslator` also says the English translation aloud, as the agent's voice.

Run: `voxroom dev --agent voxroom.apps.translate:Translator`, or a room with
`{"agent": "translate", "policy": "silent"}`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any, ClassVar

from voxroom import Agent, UserTurn
from voxroom.agent.policy import PolicyName
from voxroom.apps.languages import NAMES, name_of, translate_text
from voxroom.audit import events as ev
from voxroom.providers.base import ProviderError
from voxroom.transport.base import ParticipantInfo

log = logging.getLogger(__name__)


class Translator(Agent):
    name = "translator"
    turn_policy: ClassVar[PolicyName | None] = "silent"
    default_language: ClassVar[str] = "en"
    # Into English by the recognizer (Whisper's translate task), as it transcribes (False:
    # the LLM translates into English too).
    english_transcripts = True
    interim: ClassVar[bool] = True  # translate interim captions of long turns (through the LLM)
    speak_language: ClassVar[str | None] = None  # say translations into this language aloud

    def __init__(self) -> None:
        self.languages: dict[str, str] = {}  # identity → language
        self.names: dict[str, str] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._interim_busy: set[str] = set()  # speakers with an interim translation running
        self._final: set[int] = set()  # turns whose final caption went out

    # --- people and their languages ------------------------------------------------------------
    async def on_enter(self) -> None:
        if self.interim:
            self.session.log.subscribe(self._on_event)

    async def on_participant_joined(self, participant: ParticipantInfo) -> None:
        language = participant.language or self.default_language
        self.languages[participant.identity] = language
        self.names[participant.identity] = participant.display_name
        hello = {"type": "translator", "language": language, "languages": NAMES}
        self.session.send(hello, to=[participant.identity])

    async def on_participant_left(self, participant: ParticipantInfo) -> None:
        self.languages.pop(participant.identity, None)

    async def on_app_message(self, sender: ParticipantInfo | None, message: dict[str, Any]) -> bool:
        if message.get("type") != "language":
            return False
        language = str(message.get("language", "")).strip().lower()
        if sender is None or language not in NAMES:
            return True  # an unknown language: the page offers only ours
        self.languages[sender.identity] = language
        self.session.set_language(sender.identity, language)  # hear them in it from now on
        ack = {"type": "translator", "language": language, "languages": NAMES}
        self.session.send(ack, to=[sender.identity])
        return True

    def listeners(self, speaker: str, source: str) -> dict[str, list[str]]:
        """Everyone but `speaker` whose language is not `source`, by language."""
        wanted: dict[str, list[str]] = defaultdict(list)
        for identity, language in self.languages.items():
            if identity != speaker and language != source:
                wanted[language].append(identity)
        return dict(wanted)

    # --- final captions ------------------------------------------------------------------------
    async def on_user_turn(self, turn: UserTurn) -> None:
        turn.respond = False  # a translator does not answer: it relays
        speaker = turn.speaker
        if speaker is None:
            return
        source = self.languages.get(speaker.identity) or turn.language or self.default_language
        targets = self.listeners(speaker.identity, source)
        if self.speak_language and self.speak_language != source:
            targets.setdefault(self.speak_language, [])
        self._final.add(turn.turn_id)
        async with asyncio.TaskGroup() as group:
            for target, audience in targets.items():
                group.create_task(self._deliver(turn, speaker, source, target, audience))

    async def _deliver(
        self, turn: UserTurn, speaker: ParticipantInfo, source: str, target: str, to: list[str]
    ) -> None:
        try:
            text, by = await self.translate(turn, source, target)
        except ProviderError as exc:
            self.session.on_error(f"translator: {name_of(target)}: {exc}", component="agent")
            return
        if to and text:
            caption = self._caption(
                turn.turn_id, speaker, source, target, text, turn.text, final=True, by=by
            )
            self.session.send(caption, to=to)
        if text and target == self.speak_language:
            await self.session.say(text)

    async def translate(self, turn: UserTurn, source: str, target: str) -> tuple[str, str]:
        """`turn` in `target`, and what translated it ("speech": the recognizer, from the
        audio; "llm": the LLM, from the words)."""
        models = self.session.models
        if target == "en" and self.english_transcripts:
            if turn.english is not None:
                return turn.english, "speech"
            if turn.audio is not None:  # the recognizer did not translate as it transcribed
                try:
                    return (await models.stt.translate(turn.audio, source)).text, "speech"
                except ProviderError as exc:  # one that cannot translate: the LLM does
                    log.info("translator: no speech translation (%s); using the LLM", exc)
        return await translate_text(models.llm, turn.text, source, target) or "", "llm"

    # --- interim captions ------------------------------------------------------------------------
    def _on_event(self, event: ev.Event) -> None:
        if not isinstance(event, ev.UserTranscript) or event.final or event.participant is None:
            return
        speaker = event.participant
        if speaker in self._interim_busy or event.turn_id in self._final:
            return  # one at a time per speaker: a newer interim or the final replaces it
        self._interim_busy.add(speaker)
        task = asyncio.ensure_future(self._interim(event, speaker))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _interim(self, event: ev.UserTranscript, speaker: str) -> None:
        try:
            source = self.languages.get(speaker, self.default_language)
            info = ParticipantInfo(speaker, self.names.get(speaker, ""))
            models = self.session.models
            for target, audience in self.listeners(speaker, source).items():
                # Optional work: it stops as soon as the recognizer works on a final transcript
                # (on 2 cores an interim translation beside it cost finals seconds).
                text = await translate_text(
                    models.llm, event.text, source, target, give_way=lambda: not models.stt.idle
                )
                if text is None or event.turn_id in self._final:
                    return  # given way, or the final caption is out: it would replace it
                caption = self._caption(
                    event.turn_id, info, source, target, text, event.text, final=False, by="llm"
                )
                self.session.send(caption, to=audience)
        except ProviderError as exc:
            log.info("translator: interim translation failed: %s", exc)
        finally:
            self._interim_busy.discard(speaker)

    async def on_exit(self) -> None:
        for task in self._tasks:
            task.cancel()

    @staticmethod
    def _caption(
        turn_id: int,
        speaker: ParticipantInfo,
        source: str,
        target: str,
        text: str,
        original: str,
        *,
        final: bool,
        by: str,
    ) -> dict[str, Any]:
        """A `translation` message (docs/protocol.md)."""
        return {
            "type": "translation",
            "turn_id": turn_id,
            "participant": speaker.identity,
            "name": speaker.display_name,
            "final": final,
            "language": target,
            "text": text,
            "source_language": source,
            "source_text": original,
            "by": by,
        }


class SpokenTranslator(Translator):
    """Says the English translation of every turn in another language aloud (the agent's
    voice: the packaged TTS voices speak English). Needs a room policy that publishes the
    agent's audio: anything but silent (it never answers turns all the same)."""

    name = "interpreter"
    turn_policy = "always"
    speak_language = "en"
