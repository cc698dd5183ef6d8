"""A video agent: finds faces in the caller's camera, boxes them, sends the video back, and
says how many people it sees. Run it, then tick "Camera" in the playground:

    voxroom dev --agent voxroom.apps.faces:FaceAgent

Detection is OpenCV's Haar cascade (shipped with opencv-python-headless): fast on a CPU, good
on frontal faces. It runs in a worker thread on the newest frame whenever the previous one is
done: a slow machine processes fewer frames, never older ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import ClassVar

import cv2
import numpy as np

from voxroom import Agent, UserTurn
from voxroom.audit.events import ErrorOccurred
from voxroom.transport.base import ParticipantInfo, VideoSink
from voxroom.transport.video import VideoSource, video_stats_message

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]  # x, y, width, height in the processed frame's pixels
BOX_COLOR = (0, 255, 0)  # BGR pure green: nothing in a face is that colour, so tests find it
BOX_THICKNESS = 4  # survives 4:2:0 chroma subsampling and VP8 at the default bitrate
NUMBERS = ["no one", "one person", "two people", "three people", "four people", "five people"]


class FaceDetector:
    """Frontal faces in a BGR image. One per session: a cascade is not safe to share."""

    def __init__(self, detect_width: int = 320, min_face_px: int = 24) -> None:
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise RuntimeError(f"cannot load the face cascade {path}")
        self._width = detect_width
        self._min = min_face_px

    def detect(self, bgr: np.ndarray) -> list[Box]:
        # Detect on a small grey copy (4× fewer pixels at 640 px: ~4× faster), then scale back.
        height, width = bgr.shape[:2]
        scale = min(1.0, self._width / width)
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        if scale < 1.0:
            size = (round(width * scale), round(height * scale))
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        found = self._cascade.detectMultiScale(
            gray, scaleFactor=1.1, minNeighbors=5, minSize=(self._min, self._min)
        )
        return [tuple(round(v / scale) for v in box) for box in found]

    def annotate(self, bgr: np.ndarray) -> list[Box]:
        """Detect, then draw the boxes and a count into `bgr` (in place); return the boxes."""
        boxes = self.detect(bgr)
        for x, y, w, h in boxes:
            cv2.rectangle(bgr, (x, y), (x + w, y + h), BOX_COLOR, BOX_THICKNESS)
        label = f"{len(boxes)} face{'s' if len(boxes) != 1 else ''}"
        font, scale, weight = cv2.FONT_HERSHEY_SIMPLEX, 0.7, 2
        (text_w, _), _ = cv2.getTextSize(label, font, scale, weight)
        corner = (bgr.shape[1] - text_w - 10, bgr.shape[0] - 12)  # bottom right: clear of captions
        cv2.putText(bgr, label, corner, font, scale, (255, 255, 255), weight, cv2.LINE_AA)
        return boxes


def describe(count: int) -> str:
    return NUMBERS[count] if count < len(NUMBERS) else f"{count} people"


class PeopleRemarks:
    """Decides when a change in the face count is worth saying: the new count must hold for
    `settle_s` (detections flicker), and remarks are at least `min_gap_s` apart."""

    def __init__(self, settle_s: float = 1.0, min_gap_s: float = 5.0) -> None:
        self._settle_s, self._min_gap_s = settle_s, min_gap_s
        self._seen, self._seen_since = 0, 0.0
        self.announced = 0  # nobody at the start: no "I don't see anyone" greeting
        self._last_remark = float("-inf")

    def update(self, count: int, now: float) -> str | None:
        if count != self._seen:
            self._seen, self._seen_since = count, now
        settled = now - self._seen_since >= self._settle_s
        if not settled or count == self.announced or now - self._last_remark < self._min_gap_s:
            return None
        return "I don't see anyone now." if count == 0 else f"I see {describe(count)}."

    def said(self, count: int, now: float) -> None:
        self.announced, self._last_remark = count, now


class FaceAgent(Agent):
    name = "face agent"
    instructions = (
        "The following is a conversation with a friendly voice assistant that can see the user "
        "through their camera. The assistant answers in one or two short, complete sentences."
    )
    greeting = None  # with the camera on, "I see one person" is the greeting
    uses_video = True
    remarks: ClassVar[bool] = True  # say "I see two people" when the count changes
    processing_width: ClassVar[int] = 640
    stats_interval_s: ClassVar[float] = 1.0

    faces = 0
    _watcher: asyncio.Task[None] | None = None

    async def on_participant_joined(self, participant: ParticipantInfo) -> None:
        # The first camera in the call is the one watched.
        video_in = self._camera(participant)
        video_out = self.session.transport.video_out
        if self._watcher is None and video_in is not None and video_out is not None:
            # Owned here, cancelled in on_exit: it runs as long as the session does.
            self._watcher = asyncio.create_task(self._watch(video_in, video_out))

    def _camera(self, participant: ParticipantInfo | None) -> VideoSource | None:
        speaker = self.session.speakers.get(participant.identity) if participant else None
        return speaker.remote.video_in if speaker is not None else None

    async def on_exit(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher

    async def on_user_turn(self, turn: UserTurn) -> None:
        # What the camera shows, as text any model can use (see media.vision for images).
        camera = self._camera(turn.speaker)
        if camera is not None and camera.received_frames:
            turn.add_context(f"The camera shows {describe(self.faces)}.")

    async def _watch(self, video_in: VideoSource, video_out: VideoSink) -> None:
        try:
            await self._detect_faces(video_in, video_out)
        except Exception as exc:  # the conversation goes on without video; say why
            log.exception("face detection stopped")
            self.session.log.emit(
                ErrorOccurred(component="video", message=f"face detection stopped: {exc}")
            )

    async def _detect_faces(self, video_in: VideoSource, video_out: VideoSink) -> None:
        detector = FaceDetector()
        remarks = PeopleRemarks()
        frames = video_in.frames("bgr24", width=self.processing_width)
        next_stats = 0.0
        async for image in frames:
            boxes = await asyncio.to_thread(detector.annotate, image.array)
            video_out.push(image.array, "bgr24", captured_at=image.received_at)
            self.faces = len(boxes)
            now = time.monotonic()
            remark = remarks.update(self.faces, now) if self.remarks else None
            if remark and self.session.state == "listening":  # never talk over a reply
                remarks.said(self.faces, now)
                await self.session.say(remark)
            if now >= next_stats:
                next_stats = now + self.stats_interval_s
                self.session.transport.send(video_stats_message(frames.stats, video_out.stats))
