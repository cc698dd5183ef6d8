"""Camera frames for multimodal LLMs, in the OpenAI chat format, and their audit form.

A user message with an image is a list of content parts (OpenAI chat completions; vLLM, Ollama
and llama.cpp server accept the same):

    [{"type": "text", "text": "What am I holding?"},
     {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,...", "detail": "low"}}]

Frames are downscaled (longest side `max_side`) and JPEG-encoded: a 512 px frame is ≈ 20–40 KB,
i.e. 30–55 KB of base64, and "low" detail costs a fixed, small number of tokens at OpenAI.
The audit log should not hold that base64: `audit_content` swaps each image for its SHA-256,
size and dimensions, which identify the exact bytes sent without storing them.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from voxroom.media.video import PixelFormat, VideoImage, to_bgr

if TYPE_CHECKING:
    from voxroom.transport.video import VideoSource

ImageDetail = Literal["low", "high", "auto"]
DATA_URL_PREFIX = "data:image/jpeg;base64,"
DEFAULT_MAX_SIDE = 512
DEFAULT_QUALITY = 80


def encode_jpeg(
    image: np.ndarray,
    format: PixelFormat = "bgr24",
    *,
    max_side: int = DEFAULT_MAX_SIDE,
    quality: int = DEFAULT_QUALITY,
) -> bytes:
    """JPEG bytes of `image`, shrunk so its longest side is at most `max_side`."""
    import cv2  # the video extra: only agents that see need OpenCV

    bgr = to_bgr(image, format)
    height, width = bgr.shape[:2]
    scale = max_side / max(height, width)
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)  # AREA: no aliasing
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(encoded.tobytes())


def image_part(
    image: VideoImage | np.ndarray,
    format: PixelFormat = "bgr24",
    *,
    detail: ImageDetail = "low",
    max_side: int = DEFAULT_MAX_SIDE,
    quality: int = DEFAULT_QUALITY,
) -> dict[str, Any]:
    """One OpenAI `image_url` content part carrying the frame as a base64 JPEG data URL."""
    if isinstance(image, VideoImage):
        array, format = image.array, image.format
    else:
        array = image
    jpeg = encode_jpeg(array, format, max_side=max_side, quality=quality)
    url = DATA_URL_PREFIX + base64.b64encode(jpeg).decode("ascii")
    return {"type": "image_url", "image_url": {"url": url, "detail": detail}}


def user_content(text: str, *images: dict[str, Any]) -> str | list[dict[str, Any]]:
    """A user message's `content`: plain text, or text then image parts when there are any."""
    if not images:
        return text
    return [{"type": "text", "text": text}, *images]


def latest_frame_part(
    source: VideoSource | None,
    *,
    detail: ImageDetail = "low",
    max_side: int = DEFAULT_MAX_SIDE,
    quality: int = DEFAULT_QUALITY,
) -> dict[str, Any] | None:
    """The camera's newest frame as an image part (None without a camera or before its first
    frame). Cheap enough for the loop: one conversion and one JPEG encode of a small image
    (≈ 2–4 ms at 512 px here); call it in `on_user_turn`."""
    size = source.frame_size if source is not None else None
    if source is None or size is None:
        return None
    # Scale while converting (one libswscale pass); the JPEG step then only encodes.
    width, height = size
    if width >= height:
        image = source.latest("bgr24", width=min(width, max_side))
    else:
        image = source.latest("bgr24", height=min(height, max_side))
    if image is None:
        return None
    return image_part(image, detail=detail, max_side=max_side, quality=quality)


def audit_content(content: str | list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """`content` with every base64 image replaced by what identifies it (for the audit log)."""
    if isinstance(content, str):
        return content
    out: list[dict[str, Any]] = []
    for part in content:
        url = part.get("image_url", {}).get("url", "") if part.get("type") == "image_url" else ""
        if not url.startswith("data:"):
            out.append(part)
            continue
        data = base64.b64decode(url.split(",", 1)[1])
        out.append(
            {
                "type": "image_url",
                "image_url": {
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "bytes": len(data),
                    "media_type": url[len("data:") : url.index(";")],
                    **_jpeg_size(data),
                    "detail": part["image_url"].get("detail", "auto"),
                },
            }
        )
    return out


def _jpeg_size(data: bytes) -> dict[str, int]:
    """Width and height from a JPEG's start-of-frame marker (no decoding)."""
    index = 2
    while index + 9 < len(data):
        if data[index] != 0xFF:
            break
        marker = data[index + 1]
        length = int.from_bytes(data[index + 2 : index + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(data[index + 5 : index + 7], "big")
            width = int.from_bytes(data[index + 7 : index + 9], "big")
            return {"width": width, "height": height}
        index += 2 + length
    return {}
