"""apps/faces.py pieces, the synthetic scene and barcode, and media/vision.py."""

from __future__ import annotations

import base64

import cv2
import numpy as np
import pytest
from av import VideoFrame

from voxroom.apps.faces import BOX_COLOR, FaceDetector, PeopleRemarks, describe
from voxroom.bench.video_scene import (
    box_hits,
    face_scene,
    read_barcode,
    scene_faces,
    write_barcode,
    write_y4m,
)
from voxroom.media import vision
from voxroom.transport.video import VideoSource


def test_the_drawn_faces_are_found_and_boxed() -> None:
    scene, faces = face_scene(1.3)
    assert not box_hits(scene, faces)
    boxes = FaceDetector().annotate(scene)
    assert len(boxes) == 2
    for (x, y, w, h), face in zip(sorted(boxes), faces, strict=True):
        assert abs(x + w / 2 - face.cx) < 0.2 * face.size
        assert abs(y + h / 2 - face.cy) < 0.25 * face.size
    assert box_hits(scene, faces)
    assert tuple(scene[boxes[0][1], boxes[0][0] + 10]) == BOX_COLOR


def test_faces_are_found_after_lossy_compression_and_at_half_size() -> None:
    scene, _ = face_scene(0.0)
    ok, jpeg = cv2.imencode(".jpg", scene, [cv2.IMWRITE_JPEG_QUALITY, 15])
    assert ok
    decoded = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    assert decoded is not None
    small = cv2.resize(decoded, (320, 240))
    assert len(FaceDetector(detect_width=320, min_face_px=24).detect(small)) == 2


def test_a_blank_frame_has_no_faces() -> None:
    assert FaceDetector().detect(np.full((480, 640, 3), 110, np.uint8)) == []


@pytest.mark.parametrize("counter", [0, 1, 777, 2**20 - 1])
def test_barcode_round_trip_at_any_scale(counter: int) -> None:
    scene, _ = face_scene(0.5)
    write_barcode(scene, counter)
    gray = cv2.cvtColor(scene, cv2.COLOR_BGR2GRAY)
    assert read_barcode(gray) == counter
    assert read_barcode(cv2.resize(gray, (320, 240), interpolation=cv2.INTER_AREA)) == counter


def test_no_barcode_reads_as_none_and_a_corrupt_one_is_rejected() -> None:
    scene, _ = face_scene(0.5)
    assert read_barcode(scene[:, :, 1]) is None
    write_barcode(scene, 12345)
    scene[0:16, 16 * 10 : 16 * 11] = 255 - scene[0:16, 16 * 10 : 16 * 11]  # flip one bit
    assert read_barcode(scene[:, :, 1]) is None


def test_scene_faces_drift_and_y4m_is_i420(tmp_path: object) -> None:
    assert scene_faces(0)[0].cx != scene_faces(1)[0].cx
    path = f"{tmp_path}/scene.y4m"
    write_y4m(path, [face_scene(0)[0], face_scene(0.1)[0]], fps=15)
    data = open(path, "rb").read()
    assert data.startswith(b"YUV4MPEG2 W640 H480 F15:1")
    assert data.count(b"FRAME\n") == 2
    assert len(data) == data.index(b"\n") + 1 + 2 * (6 + 640 * 480 * 3 // 2)


def test_remarks_wait_for_a_settled_count_and_keep_a_gap() -> None:
    remarks = PeopleRemarks(settle_s=1.0, min_gap_s=5.0)
    assert remarks.update(0, 0.0) is None  # nobody at the start: nothing to say
    assert remarks.update(2, 1.0) is None  # just appeared
    assert remarks.update(1, 1.5) is None  # flicker resets the clock
    assert remarks.update(2, 2.0) is None
    assert remarks.update(2, 3.1) == "I see two people."
    remarks.said(2, 3.1)
    assert remarks.update(2, 10.0) is None  # already said
    assert remarks.update(1, 4.0) is None
    assert remarks.update(1, 5.5) is None  # settled, but within 5 s of the last remark
    assert remarks.update(1, 8.2) == "I see one person."
    remarks.said(1, 8.2)
    assert remarks.update(0, 14.0) is None
    assert remarks.update(0, 15.0) == "I don't see anyone now."
    assert describe(7) == "7 people"


def test_image_part_is_openai_format_and_downscaled() -> None:
    scene, _ = face_scene(0)
    part = vision.image_part(scene, max_side=256)
    assert part["type"] == "image_url" and part["image_url"]["detail"] == "low"
    url = part["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    decoded = cv2.imdecode(
        np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR
    )
    assert decoded is not None and decoded.shape == (192, 256, 3)
    assert vision.user_content("hi") == "hi"
    content = vision.user_content("What do you see?", part)
    assert content == [{"type": "text", "text": "What do you see?"}, part]


def test_audit_content_keeps_a_fingerprint_not_the_image() -> None:
    scene, _ = face_scene(0)
    part = vision.image_part(scene, max_side=320, detail="high")
    audited = vision.audit_content(vision.user_content("look", part))
    assert isinstance(audited, list)
    assert audited[0] == {"type": "text", "text": "look"}
    meta = audited[1]["image_url"]
    assert "url" not in meta and len(meta["sha256"]) == 64
    assert (meta["width"], meta["height"], meta["detail"]) == (320, 240, "high")
    assert meta["media_type"] == "image/jpeg" and meta["bytes"] > 1000
    assert vision.audit_content("plain") == "plain"


async def test_latest_frame_part_from_a_camera() -> None:
    source = VideoSource()
    assert vision.latest_frame_part(None) is None
    assert vision.latest_frame_part(source) is None  # no frame yet
    scene, _ = face_scene(0)
    source.put(VideoFrame.from_ndarray(scene, format="bgr24").reformat(format="yuv420p"))
    part = vision.latest_frame_part(source, max_side=320)
    assert part is not None
    audited = vision.audit_content([part])
    assert isinstance(audited, list)
    meta = audited[0]["image_url"]
    assert (meta["width"], meta["height"]) == (320, 240)
