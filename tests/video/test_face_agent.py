"""The face agent over a real aiortc session: camera frames with drawn faces go in, boxed
frames come back (checked per frame by its barcode), with fps/drop figures and a remark."""

from __future__ import annotations

import pytest

from tests.conftest import RunningServer
from voxroom.bench.video import stream_faces

pytestmark = pytest.mark.slow


async def test_face_agent_boxes_the_faces_it_is_shown(face_server: RunningServer) -> None:
    report = await stream_faces(face_server.url, seconds=10, fps=15)
    print(f"\nface agent over aiortc: {report}")
    log = face_server.log()[-5000:]
    assert report["face_boxes_hit_rate"] >= 0.9, f"{report}\n{log}"
    # Latest-frame semantics: the agent keeps up or skips, and says which.
    assert report["processed_fps"] >= 5, report
    assert 0 <= report["dropped_frames_pct"] <= 60, report
    assert report["returned_frames_pct"] >= 30, report
    assert report["e2e_delay_ms"]["p50"] is not None and report["e2e_delay_ms"]["p50"] < 1000
    # The count settled on two faces: the agent said so through the voice pipeline.
    assert any("two people" in text.lower() for text in report["agent_said"]), report
