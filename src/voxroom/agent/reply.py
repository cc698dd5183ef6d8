"""One agent reply: text stream → sentences → TTS → outbound sink, as one cancellable unit.

Generation and synthesis run concurrently in a task group (the LLM writes sentence 2 while
sentence 1 is synthesized and played). Markers in the sink record which sentences actually
started playing, so an interrupted reply keeps only what the user heard.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from voxroom.agent.chunking import SentenceChunker
from voxroom.agent.timing import TurnTimings, now
from voxroom.providers.base import TTS
from voxroom.transport.base import AudioSink


@dataclass(slots=True)
class SpokenSentence:
    text: str
    started_at: float  # the sink's played_seconds when its first frame went out
    seconds: float = 0.0  # audio queued for it so far
    # Its audio all went out: the sink's played time can fall a few ms short of `seconds`
    # (resampling rounds each chunk), so a whole sentence must not be judged by share.
    finished: bool = False


class Reply:
    def __init__(
        self,
        *,
        text: AsyncIterator[str],
        tts: TTS,
        sink: AudioSink,
        timings: TurnTimings,
        on_sentence_played: Callable[[str], None],
        on_synthesized: Callable[[str, str, float, float], None],
    ) -> None:
        self._text = text
        self._tts = tts
        self._sink = sink
        self.timings = timings
        self._on_sentence_played = on_sentence_played
        # (provider, sentence, audio seconds, seconds taken)
        self._on_synthesized = on_synthesized
        self.spoken: list[SpokenSentence] = []  # sentences whose audio started playing
        self.generated: list[str] = []
        self._played_out = asyncio.Event()
        # Playout waits for this: a reply prepared before the turn is certain is held here,
        # and discarded unheard if the user goes on.
        self.released = asyncio.Event()
        # Set once audio of it is in the sink: from then on only the sink can keep it silent.
        self.queued = asyncio.Event()
        self.discarded = False

    @property
    def turn_id(self) -> int:
        return self.timings.turn_id

    @property
    def playing(self) -> bool:
        return bool(self.spoken) and not self._played_out.is_set()

    def release(self) -> None:
        self.released.set()

    @property
    def started_text(self) -> str:
        """Every sentence whose audio has started: the live caption while speaking."""
        return " ".join(sentence.text for sentence in self.spoken)

    @property
    def heard_text(self) -> str:
        """What the user heard: whole sentences played, and of a sentence cut off by a
        barge-in, the share of its words matching the share of its audio that went out."""
        words: list[str] = []
        for sentence in self.spoken:
            sentence_words = sentence.text.split()
            played = self._sink.played_seconds - sentence.started_at
            if not sentence.finished and sentence.seconds > 0 and played < sentence.seconds:
                keep = round(len(sentence_words) * max(0.0, played) / sentence.seconds)
                words += sentence_words[:keep]
                break
            words += sentence_words
        return " ".join(words)

    async def run(self) -> None:
        """Returns once every queued sentence has been played out (or raises on failure)."""
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        async with asyncio.TaskGroup() as group:
            group.create_task(self._generate(sentences))
            group.create_task(self._speak(sentences))
        await self._played_out.wait()

    async def _generate(self, sentences: asyncio.Queue[str | None]) -> None:
        chunker = SentenceChunker()
        self.timings.llm_request = now()
        try:
            async for delta in self._text:
                if self.timings.llm_first_token is None:
                    self.timings.llm_first_token = now()
                for piece in chunker.push(delta):
                    await self._queue_sentence(sentences, piece)
            if rest := chunker.flush():
                await self._queue_sentence(sentences, rest)
        finally:
            sentences.put_nowait(None)

    async def _queue_sentence(self, sentences: asyncio.Queue[str | None], sentence: str) -> None:
        first = self.timings.first_sentence is None
        if first:
            self.timings.first_sentence = now()
        self.generated.append(sentence)
        sentences.put_nowait(sentence)
        if first:  # let TTS start now, even if the LLM streams without ever yielding
            await asyncio.sleep(0)

    async def _speak(self, sentences: asyncio.Queue[str | None]) -> None:
        while (sentence := await sentences.get()) is not None:
            spoken = SpokenSentence(sentence, started_at=0.0)
            synthesis_began, provider = now(), self._tts.name
            async for chunk in self._tts.synthesize(sentence):
                provider = chunk.provider or provider
                if self.timings.tts_first_chunk is None:
                    self.timings.tts_first_chunk = now()
                if spoken.seconds == 0.0:
                    # Synthesis runs ahead; playout starts only once the turn is certain.
                    await self.released.wait()
                    # The marker goes in with audio behind it, never before.
                    self._sink.mark(functools.partial(self._sentence_started, spoken))
                spoken.seconds += chunk.seconds
                self._sink.push(chunk.samples, chunk.sample_rate)
                self.queued.set()
            self._on_synthesized(provider, sentence, spoken.seconds, now() - synthesis_began)
        self._sink.mark(self._all_played)

    def _all_played(self) -> None:
        for sentence in self.spoken:
            sentence.finished = True
        self._played_out.set()

    def _sentence_started(self, sentence: SpokenSentence) -> None:
        if self.timings.first_audio_sent is None:
            self.timings.first_audio_sent = now()
        for before in self.spoken:  # playout is in order: the earlier ones went out whole
            before.finished = True
        sentence.started_at = self._sink.played_seconds
        self.spoken.append(sentence)
        self._on_sentence_played(sentence.text)


async def single_text(text: str) -> AsyncIterator[str]:
    """A fixed utterance as a text stream (for `say()`, greetings, apologies)."""
    yield text
