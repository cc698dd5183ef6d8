"""The browser's screen as the agent's video: Chromium's screencast (DevTools
`Page.startScreencast`: a JPEG whenever the page changes) decoded and pushed to a `VideoSink`,
with a caption bar saying what the agent is doing. Frames are decoded in a thread, one at a
time, newest first: a busy machine shows fewer frames, never older ones. Between changes the
sink repeats the last frame, so a still page costs nothing here.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from typing import Any

import numpy as np

from voxroom.transport.base import VideoSink

log = logging.getLogger(__name__)

CAPTION_HEIGHT = 34
_ASCII = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "…": "...", "€": "EUR",
                        "–": "-", "—": "-", "•": "*", "→": "->"})  # fmt: skip


def ascii_caption(text: str) -> str:
    """OpenCV's fonts draw ASCII only."""
    return text.translate(_ASCII).encode("ascii", "replace").decode("ascii")


def draw_caption(image: np.ndarray, text: str) -> np.ndarray:
    """`image` with a dark bar at the bottom carrying `text` (a new array)."""
    import cv2

    out = image.copy()
    height, width = out.shape[:2]
    bar = out[height - CAPTION_HEIGHT :, :]
    bar[:] = (bar * 0.25).astype(np.uint8)
    label = ascii_caption(text)
    font, scale, weight = cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1
    while label and cv2.getTextSize(label, font, scale, weight)[0][0] > width - 20:
        label = label[:-4] + "..."
    cv2.putText(out, label, (10, height - 11), font, scale, (255, 255, 255), weight, cv2.LINE_AA)
    return out


class LiveView:
    def __init__(self, sink: VideoSink, *, max_width: int = 960, max_height: int = 640) -> None:
        self._sink = sink
        self._max = (max_width, max_height)
        self._cdp: Any = None
        self._pending: tuple[str, int] | None = None  # newest frame: base64 JPEG, ack id
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last: np.ndarray | None = None  # the last decoded frame, without caption
        self.caption = ""
        self.frames = 0

    async def start(self, context: Any, page: Any) -> None:
        self._cdp = await context.new_cdp_session(page)
        self._cdp.on("Page.screencastFrame", self._on_frame)
        width, height = self._max
        await self._cdp.send(
            "Page.startScreencast",
            {"format": "jpeg", "quality": 75, "maxWidth": width, "maxHeight": height},
        )
        self._task = asyncio.create_task(self._pump())

    def set_caption(self, text: str) -> None:
        """Show `text` under the page from now on (the last frame is re-sent with it)."""
        self.caption = text
        if self._last is not None:
            self._sink.push(draw_caption(self._last, text) if text else self._last, "bgr24")

    def _on_frame(self, params: dict[str, Any]) -> None:
        self._pending = (params["data"], params["sessionId"])
        self._wake.set()

    async def _pump(self) -> None:
        import cv2

        def decode(data: str, caption: str) -> tuple[np.ndarray, np.ndarray] | None:
            raw = np.frombuffer(base64.b64decode(data), np.uint8)
            image = cv2.imdecode(raw, cv2.IMREAD_COLOR)
            if image is None:
                return None
            return image, draw_caption(image, caption) if caption else image

        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._pending is None:
                continue
            data, ack = self._pending
            self._pending = None
            try:
                decoded = await asyncio.to_thread(decode, data, self.caption)
                # Acknowledged once taken: Chromium sends the next frame only then.
                await self._cdp.send("Page.screencastFrameAck", {"sessionId": ack})
            except Exception as exc:  # the page or browser went away: the view ends
                log.info("live view stopped: %s", exc)
                return
            if decoded is not None:
                self._last, shown = decoded
                self._sink.push(shown, "bgr24")
                self.frames += 1

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._cdp is not None:
            with contextlib.suppress(Exception):
                await self._cdp.send("Page.stopScreencast")
                await self._cdp.detach()
