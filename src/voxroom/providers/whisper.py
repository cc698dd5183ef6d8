"""faster-whisper (CTranslate2) speech-to-text, int8 on CPU.

Whisper's encoder is specified for a 30 s window, and faster-whisper always pads to it: for
a 2 s question that window is almost all of the cost (≈ 780 of ≈ 950 ms here). Utterances
that fit are encoded in a window fitted to them instead (the audio plus a second, at least
`MIN_WINDOW_S`), and faster-whisper's own decoding loop (temperature fallback, no-speech
and compression checks) runs on that encoder output. Measured on 58 espeak-ng and Piper
utterances of 0.5–7 s: word error rate 6.4 % against 7.1 % for the 30 s window, 269 against
1062 ms median. Shorter minimum windows make the decoder loop ("Yes Yes Yes…") because it
never sees the padding it was trained to stop at.

One loaded model serves both of Whisper's tasks: `transcribe` (in the configured language,
or the one a call names) and `translate` (any language → English).

Sessions share the recognizer. With `batch` > 1, transcriptions that queue while it is busy
run together (`BatchRunner`): the fitted windows of every waiting utterance in one encoder
call, then one batched greedy decode; an utterance whose greedy decode fails Whisper's checks
(compression ratio, log-probability) is decoded again alone with the temperature fallback,
and requests that cannot share a call (translation, another language or hints, long audio)
run alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Literal, NamedTuple

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import (
    Segment,
    TranscriptionOptions,
    get_compression_ratio,
    get_suppressed_tokens,
)

from voxroom.media.audio import int16_to_float
from voxroom.providers.base import STT, ModelRunner, Transcript
from voxroom.providers.batching import BatchRunner
from voxroom.providers.sharing import STT_BATCH_SIZE

Task = Literal["transcribe", "translate"]

NO_SPEECH_PROB = 0.6  # Whisper's own thresholds for "this segment is silence"
LOW_LOGPROB = -1.0
MIN_WINDOW_S = 10.0
WINDOW_MARGIN_S = 1.0
FULL_WINDOW_S = 30.0
MIN_LANGUAGE_PROB = 0.5
# Translation gives up after two temperatures: the full fallback (six) spent up to 9 s of the
# process's one recognizer on espeak-ng French that came out garbled all the same.
TRANSLATE_TEMPERATURES = [0.0, 0.4]
MAX_TRANSLATION_TOKENS = 220  # Whisper's decoder holds 448 tokens, half of them the prompt


def window_frames(audio_seconds: float, frames_per_second: int) -> int | None:
    """Encoder frames for an utterance, or None when it needs Whisper's long-form path."""
    seconds = max(MIN_WINDOW_S, audio_seconds + WINDOW_MARGIN_S)
    return None if seconds >= FULL_WINDOW_S else round(seconds * frames_per_second)


class _Request(NamedTuple):
    samples: np.ndarray
    hints: tuple[str, ...]
    language: str | None
    task: Task
    english: bool


class WhisperSTT(STT):
    name = "faster-whisper"

    def __init__(
        self,
        model: str,
        *,
        language: str | None = "en",
        beam_size: int = 1,
        threads: int = 2,
        fitted_window: bool = True,
        batch: int = 1,
    ) -> None:
        self._model = WhisperModel(model, device="cpu", compute_type="int8", cpu_threads=threads)
        self._language = language
        self._beam_size = beam_size
        self._fitted_window = fitted_window
        # The options faster-whisper's `transcribe` builds from these same arguments.
        self._options = TranscriptionOptions(
            beam_size=beam_size,
            best_of=5,
            patience=1.0,
            length_penalty=1.0,
            repetition_penalty=1.0,
            no_repeat_ngram_size=0,
            log_prob_threshold=LOW_LOGPROB,
            no_speech_threshold=NO_SPEECH_PROB,
            compression_ratio_threshold=2.4,
            condition_on_previous_text=False,
            prompt_reset_on_temperature=0.5,
            temperatures=[0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
            initial_prompt=None,
            prefix=None,
            suppress_blank=True,
            # The special tokens; they do not depend on the language.
            suppress_tokens=get_suppressed_tokens(
                self._tokenizer(language or "en", "transcribe"), [-1]
            ),
            without_timestamps=True,
            max_initial_timestamp=1.0,
            word_timestamps=False,
            prepend_punctuations="\"'“¿([{-",
            append_punctuations="\"'.。,，!！?？:：”)]}、",
            multilingual=False,
            max_new_tokens=None,
            clip_timestamps="0",
            hallucination_silence_threshold=None,
            hotwords=None,
        )
        # One decode at a time: on a small CPU, parallel decodes only slow each other down.
        self.runner = ModelRunner("stt", workers=1)
        self._batches = (
            BatchRunner(
                "stt-batch",
                self._transcribe_many,
                max_batch=batch,
                key=self._batch_key,
                sizes=STT_BATCH_SIZE,
            )
            if batch > 1
            else None
        )

    def _transcribe_blocking(
        self,
        samples: np.ndarray,
        hints: Sequence[str] = (),
        language: str | None = None,
        task: Task = "transcribe",
        english: bool = False,
    ) -> Transcript:
        """`task` on `samples`; with `english`, the translation into English as well, decoded
        from the same encoding of the audio (no second encoder pass)."""
        if task == "transcribe":
            language = language or self._language
        audio = int16_to_float(samples)
        seconds = samples.size / self.sample_rate
        frames = (
            window_frames(seconds, self._model.frames_per_second) if self._fitted_window else None
        )
        # Hotwords: the agent's name came out right 30 of 32 times in espeak-ng voices with it,
        # 19 of 32 without ("No, but", "over"), and no sentence without it gained the name.
        hotwords = " ".join(hints) or None
        also: Task | None = "translate" if english and task == "transcribe" else None
        fitted = (
            None
            if frames is None
            else self._transcribe_fitted(audio, frames, hotwords, language, task, also)
        )
        kept, language, translated = fitted or self._transcribe_full(
            audio, hotwords, language, task, also
        )
        text = _text(kept)
        return Transcript(
            text=text,
            language=language,
            audio_seconds=seconds,
            avg_logprob=float(np.mean([s.avg_logprob for s in kept])) if kept else None,
            english=None if also is None else text if language == "en" else _text(translated),
        )

    def _transcribe_full(
        self,
        audio: np.ndarray,
        hotwords: str | None,
        language: str | None,
        task: Task,
        also: Task | None,
    ) -> tuple[list[Segment], str, list[Segment]]:
        """faster-whisper's own call: the 30 s window, and its long-form loop beyond it."""
        kept, language = self._full(audio, hotwords, language, task)
        also_kept = (
            [] if also is None or language == "en" else self._full(audio, None, language, also)[0]
        )
        return kept, language, also_kept

    def _full(
        self, audio: np.ndarray, hotwords: str | None, language: str | None, task: Task
    ) -> tuple[list[Segment], str]:
        segments, info = self._model.transcribe(
            audio,
            language=language,
            task=task,
            beam_size=self._beam_size,
            without_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
            hotwords=hotwords,
            **({"temperature": TRANSLATE_TEMPERATURES} if task == "translate" else {}),
        )
        return self._speech(segments), info.language

    def _transcribe_fitted(
        self,
        audio: np.ndarray,
        frames: int,
        hotwords: str | None,
        language: str | None,
        task: Task,
        also: Task | None,
    ) -> tuple[list[Segment], str, list[Segment]] | None:
        """Decode in a fitted window; None when the language is unclear in it."""
        # Padded with zero features, as faster-whisper pads its 30 s window. (Padding with
        # silent audio instead: word error rate 8.3 % against 6.4 % on the same utterances.)
        content = self._model.feature_extractor(audio)[:, :frames]
        features = np.zeros((content.shape[0], frames), dtype=np.float32)
        features[:, : content.shape[1]] = content
        encoded = self._model.encode(features)
        if language is None:
            # The fitted window is less sure of a language than the full one ("Guten Morgen"
            # came out as Latin): leave an unclear case to the full window.
            token, probability = self._model.model.detect_language(encoded)[0][0]
            if probability < MIN_LANGUAGE_PROB:
                return None
            language = token[2:-2]  # "<|de|>"
        kept = self._decode(features, encoded, language, task, hotwords)
        if also is None or language == "en":
            return kept, language, []
        # A translation about as long as the transcript: a decoder that loops ("my friend,
        # my friend, …", seen on espeak-ng Portuguese) stops there instead of after 4 s.
        tokens = sum(len(segment.tokens) for segment in kept)
        limit = min(MAX_TRANSLATION_TOKENS, 2 * tokens + 8)
        return kept, language, self._decode(features, encoded, language, also, None, limit)

    def _decode(
        self,
        features: np.ndarray,
        encoded: object,
        language: str,
        task: Task,
        hotwords: str | None,
        max_new_tokens: int | None = None,
    ) -> list[Segment]:
        # A fresh copy: generate_segments rewrites fields of the options it is given.
        options = dataclasses.replace(
            self._options, hotwords=hotwords, max_new_tokens=max_new_tokens
        )
        if task == "translate":
            options = dataclasses.replace(options, temperatures=TRANSLATE_TEMPERATURES)
        segments = self._model.generate_segments(
            features,
            self._tokenizer(language, task),
            options,
            log_progress=False,
            encoder_output=encoded,
        )
        return self._speech(segments)

    def _batch_key(self, request: _Request) -> object:
        """Requests with the same key can share a batched call; the others get a key of
        their own."""
        language = request.language or self._language
        frames = window_frames(request.samples.size / self.sample_rate, 1)
        if (
            request.task == "transcribe"
            and self._fitted_window
            and frames is not None
            and language is not None
            and (not request.english or language == "en")
        ):
            return (language, request.hints)
        return request

    def _transcribe_many(self, requests: Sequence[_Request]) -> list[Transcript | Exception]:
        if len(requests) == 1:
            return [self._one(requests[0])]
        try:
            return list(self._transcribe_batched(requests))
        except Exception:  # the batch failed as a whole: each on its own, with its own error
            return [self._one(request) for request in requests]

    def _one(self, request: _Request) -> Transcript | Exception:
        try:
            return self._transcribe_blocking(*request)
        except Exception as exc:
            return exc

    def _transcribe_batched(self, requests: Sequence[_Request]) -> Iterable[Transcript]:
        """Requests of one `_batch_key`: one encoder call, one greedy decode for all."""
        language = requests[0].language or self._language
        assert language is not None
        hotwords = " ".join(requests[0].hints) or None
        fps = self._model.frames_per_second
        widths = [window_frames(r.samples.size / self.sample_rate, fps) or 0 for r in requests]
        features = np.zeros((len(requests), self._model.model.n_mels, max(widths)), np.float32)
        for row, request in zip(features, requests, strict=True):
            content = self._model.feature_extractor(int16_to_float(request.samples))
            content = content[:, : row.shape[1]]
            row[:, : content.shape[1]] = content
        encoded = self._model.encode(features)
        tokenizer = self._tokenizer(language, "transcribe")
        options = dataclasses.replace(self._options, hotwords=hotwords)
        prompt = self._model.get_prompt(tokenizer, [], without_timestamps=True, hotwords=hotwords)
        results = self._model.model.generate(
            encoded,
            [list(prompt) for _ in requests],
            beam_size=options.beam_size,
            patience=options.patience,
            length_penalty=options.length_penalty,
            repetition_penalty=options.repetition_penalty,
            no_repeat_ngram_size=options.no_repeat_ngram_size,
            max_length=self._model.max_length,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=options.suppress_blank,
            suppress_tokens=options.suppress_tokens,
        )
        for index, (request, result) in enumerate(zip(requests, results, strict=True)):
            tokens = list(result.sequences_ids[0])
            avg_logprob = (
                result.scores[0] * len(tokens) ** options.length_penalty / (len(tokens) + 1)
            )
            text = tokenizer.decode(tokens)
            ratio = get_compression_ratio(text.strip())
            silence = result.no_speech_prob > NO_SPEECH_PROB and avg_logprob < LOW_LOGPROB
            if not silence and (
                ratio > options.compression_ratio_threshold or avg_logprob < LOW_LOGPROB
            ):
                # The temperature fallback, for this utterance alone, on its own encoding.
                own = ctranslate2.StorageView.from_array(np.asarray(encoded)[index : index + 1])
                kept = self._decode(features[index], own, language, "transcribe", hotwords)
            else:
                segment = Segment(
                    id=1, seek=0, start=0.0, end=request.samples.size / self.sample_rate,
                    text=text, tokens=tokens, avg_logprob=avg_logprob, compression_ratio=ratio,
                    no_speech_prob=result.no_speech_prob, words=None, temperature=0.0,
                )  # fmt: skip
                kept = self._speech([segment])
            text = _text(kept)
            yield Transcript(
                text=text,
                language=language,
                audio_seconds=request.samples.size / self.sample_rate,
                avg_logprob=float(np.mean([s.avg_logprob for s in kept])) if kept else None,
                english=text if request.english else None,
            )

    def _tokenizer(self, language: str, task: Task) -> Tokenizer:
        return Tokenizer(
            self._model.hf_tokenizer,
            self._model.model.is_multilingual,
            task=task,
            language=language,
        )

    @staticmethod
    def _speech(segments: Iterable[Segment]) -> list[Segment]:
        # Whisper invents words for noise ("Thank you."); drop what it rates as non-speech.
        return [
            segment
            for segment in segments
            if not (segment.no_speech_prob > NO_SPEECH_PROB and segment.avg_logprob < LOW_LOGPROB)
        ]

    @property
    def idle(self) -> bool:
        batched = self._batches.in_flight if self._batches is not None else 0
        return self.runner.in_flight == 0 and batched == 0

    async def _run(self, request: _Request) -> Transcript:
        if self._batches is not None:
            return await self._batches.run(request)
        STT_BATCH_SIZE.observe(1)  # one transcription per call
        return await self.runner.run(self._transcribe_blocking, *request)

    async def transcribe(
        self,
        samples: np.ndarray,
        hints: Sequence[str] = (),
        language: str | None = None,
        *,
        english: bool = False,
    ) -> Transcript:
        if samples.size < self.sample_rate // 10:
            return Transcript(text="", audio_seconds=samples.size / self.sample_rate)
        return await self._run(_Request(samples, tuple(hints), language, "transcribe", english))

    async def translate(self, samples: np.ndarray, language: str | None = None) -> Transcript:
        if samples.size < self.sample_rate // 10:
            return Transcript(text="", audio_seconds=samples.size / self.sample_rate)
        # The configured language is for transcripts: a translation names the spoken one or
        # lets Whisper detect it.
        return await self._run(_Request(samples, (), language, "translate", False))


def _text(segments: Iterable[Segment]) -> str:
    return " ".join(segment.text.strip() for segment in segments).strip()
