"""Synthetic camera frames for video tests and benchmarks: drawn faces and a frame barcode.

- `face_scene(t)`: two cartoon faces that OpenCV's frontal Haar cascade detects (checked at
  sizes 80–240 px, after JPEG at quality 10 and at half scale), drifting sideways so the agent
  must find them afresh in every frame.
- `write_barcode` / `read_barcode`: a frame number in a row of black and white 16×16 blocks
  along the top edge (block-aligned, so VP8 keeps them), with a CRC so a misread is rejected
  rather than mistaken for another frame. Read back from the agent's annotated video, it tells
  which camera frame each returned frame was made from: end-to-end delay per frame.
- `box_hits`: whether the agent's box colour surrounds each face where the frame had it.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

SCENE_WIDTH, SCENE_HEIGHT = 640, 480
BACKGROUND = 110  # mid grey: neither box green nor barcode black/white
BLOCK = 16
COUNTER_BITS = 20
CHECK_BITS = 8
# Start marker (white, black), then the counter, then the check bits, most significant first.
_MARKER = (1, 0)
BARCODE_BLOCKS = len(_MARKER) + COUNTER_BITS + CHECK_BITS
_X0 = BLOCK  # one block in from the left edge


@dataclass(frozen=True, slots=True)
class Face:
    cx: int
    cy: int
    size: int


def draw_face(bgr: np.ndarray, face: Face) -> None:
    """A frontal cartoon face: what the Haar features look for is dark brows and eyes over
    lighter cheeks, a lighter nose bridge between the eyes, and a darker mouth."""
    import cv2

    cx, cy, s = face.cx, face.cy, face.size

    def px(fraction: float) -> int:
        return int(fraction * s)

    cv2.ellipse(bgr, (cx, cy), (px(0.42), px(0.55)), 0, 0, 360, (150, 170, 200), -1)  # skin
    for side in (-1, 1):
        ex = cx + side * px(0.18)
        cv2.ellipse(bgr, (ex, cy - px(0.20)), (px(0.11), px(0.03)), 0, 0, 360, (40, 40, 50), -1)
        cv2.ellipse(bgr, (ex, cy - px(0.10)), (px(0.09), px(0.045)), 0, 0, 360, (245,) * 3, -1)
        cv2.circle(bgr, (ex, cy - px(0.10)), px(0.04), (30, 25, 20), -1)  # pupil
    cv2.ellipse(bgr, (cx, cy + px(0.10)), (px(0.06), px(0.04)), 0, 0, 360, (110, 125, 160), -1)
    cv2.ellipse(bgr, (cx, cy + px(0.27)), (px(0.15), px(0.05)), 0, 0, 360, (70, 70, 150), -1)
    cv2.ellipse(bgr, (cx, cy - px(0.42)), (px(0.44), px(0.20)), 0, 180, 360, (30, 40, 60), -1)


def scene_faces(t: float) -> list[Face]:
    """Where the two faces are at `t` seconds: ±30 px sideways, one cycle every 4 s."""
    dx = round(30 * math.sin(2 * math.pi * t / 4.0))
    return [Face(200 + dx, 260, 180), Face(450 - dx, 260, 160)]


def face_scene(t: float) -> tuple[np.ndarray, list[Face]]:
    """A 640×480 BGR frame with the two faces as they are at `t` seconds."""
    import cv2

    bgr = np.full((SCENE_HEIGHT, SCENE_WIDTH, 3), BACKGROUND, np.uint8)
    faces = scene_faces(t)
    for face in faces:
        draw_face(bgr, face)
    # Soft edges, like a camera: hard cartoon edges are not what the cascade was trained on.
    return cv2.GaussianBlur(bgr, (5, 5), 0), faces


def _check(counter: int) -> int:
    return zlib.crc32(counter.to_bytes(4, "big")) & ((1 << CHECK_BITS) - 1)


def _bits(counter: int) -> list[int]:
    value = (counter << CHECK_BITS) | _check(counter)
    payload = [(value >> i) & 1 for i in reversed(range(COUNTER_BITS + CHECK_BITS))]
    return [*_MARKER, *payload]


def write_barcode(bgr: np.ndarray, counter: int) -> None:
    """Stamp `counter` (0 … 2**20 − 1) into the top rows of `bgr`, in place."""
    if not 0 <= counter < 1 << COUNTER_BITS:
        raise ValueError(f"counter out of range: {counter}")
    for i, bit in enumerate(_bits(counter)):
        x = _X0 + i * BLOCK
        bgr[0:BLOCK, x : x + BLOCK] = 255 if bit else 0


def read_barcode(luma: np.ndarray) -> int | None:
    """The counter stamped in a frame, from its luma (Y plane or grey image) at any scale;
    None when there is no valid barcode."""
    scale = luma.shape[1] / SCENE_WIDTH
    bits: list[int] = []
    for i in range(BARCODE_BLOCKS):
        # The block's centre half: away from the edges that the codec blurs.
        x0 = round((_X0 + i * BLOCK + BLOCK / 4) * scale)
        x1 = round((_X0 + i * BLOCK + 3 * BLOCK / 4) * scale)
        y0, y1 = round(BLOCK / 4 * scale), round(3 * BLOCK / 4 * scale)
        level = float(luma[y0:y1, x0:x1].mean())
        if 64 < level < 192:  # neither black nor white: no barcode here
            return None
        bits.append(int(level >= 128))
    if tuple(bits[: len(_MARKER)]) != _MARKER:
        return None
    value = 0
    for bit in bits[len(_MARKER) :]:
        value = (value << 1) | bit
    counter, check = value >> CHECK_BITS, value & ((1 << CHECK_BITS) - 1)
    return counter if _check(counter) == check else None


def box_pixels(bgr: np.ndarray) -> np.ndarray:
    """Mask of the agent's box colour (pure green) as it survives encoding: strongly green,
    little red or blue. Skin, hair, grey and the barcode never match."""
    b, g, r = (bgr[:, :, i].astype(np.int16) for i in range(3))
    mask: np.ndarray = (g > 150) & (r < 110) & (b < 110)
    return mask


def box_hits(bgr: np.ndarray, faces: list[Face], min_pixels: int = 300) -> bool:
    """True when box-coloured pixels frame every face: inside a square of half-side 0.9 × size
    around the face centre but outside the face's inner half (where no box line can be)."""
    mask = box_pixels(bgr)
    scale = bgr.shape[1] / SCENE_WIDTH
    for face in faces:
        cx, cy = face.cx * scale, face.cy * scale
        outer, inner = 0.9 * face.size * scale, 0.3 * face.size * scale
        y0, y1 = max(0, round(cy - outer)), round(cy + outer)
        x0, x1 = max(0, round(cx - outer)), round(cx + outer)
        ring = mask[y0:y1, x0:x1].copy()
        ring[
            round(cy - inner) - y0 : round(cy + inner) - y0,
            round(cx - inner) - x0 : round(cx + inner) - x0,
        ] = False
        if int(ring.sum()) < min_pixels:
            return False
    return True


def write_y4m(path: str, frames: list[np.ndarray], fps: int) -> None:
    """BGR frames as a Y4M (I420) file, e.g. for Chromium's fake camera."""
    import cv2

    height, width = frames[0].shape[:2]
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for bgr in frames:
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).tobytes())
