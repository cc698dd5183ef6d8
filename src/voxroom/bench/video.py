"""`voxroom bench video`: the face agent over a real aiortc session, timed per frame.

The client's camera sends synthetic frames with two drawn faces and a barcode holding the
frame number (`bench.video_scene`). The agent finds the faces, draws boxes and sends the video
back; reading each returned frame's barcode tells which camera frame it was made from, so
`e2e_delay_ms` is camera frame pushed → annotated frame decoded at the client (one clock: both
ends are this process). The agent's own `video_stats` messages give processed fps and drops;
`face_boxes_hit_rate` is the share of returned frames whose boxes frame both faces where that
frame had them.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

from av import VideoFrame
from rich.console import Console
from rich.table import Table

from voxroom.apps.faces import FaceAgent
from voxroom.bench.harness import running_server
from voxroom.bench.latency import percentile
from voxroom.bench.video_scene import box_hits, face_scene, read_barcode, scene_faces, write_barcode
from voxroom.client import VoxroomClient
from voxroom.config import TransportConfig
from voxroom.transport.webrtc import tuning

BENCH_AGENT = "voxroom.bench.video:BenchFaceAgent"
SCENE_PERIOD_S = 4.0  # scene_faces repeats every 4 s: frames are drawn once and reused


class BenchFaceAgent(FaceAgent):
    """The face agent without speech, so TTS does not compete with video for the CPU."""

    remarks: ClassVar[bool] = False


class _Returned:
    """Per returned frame: which camera frame it was, when it came, whether the boxes hit."""

    def __init__(self, fps: float, check_from: int) -> None:
        self.fps, self.check_from = fps, check_from
        self.arrived: dict[int, float] = {}
        self.checked = self.hits = self.unreadable = 0

    def on_frame(self, frame: VideoFrame, arrived: float) -> None:
        counter = read_barcode(frame.to_ndarray(format="gray"))
        if counter is None:
            self.unreadable += 1
            return
        if counter in self.arrived:  # a keep-alive repeat of a frame we already have
            return
        self.arrived[counter] = arrived
        if counter >= self.check_from:
            self.checked += 1
            faces = scene_faces(counter / self.fps)
            self.hits += box_hits(frame.to_ndarray(format="bgr24"), faces)


async def stream_faces(
    url: str, seconds: float, fps: float, warmup_s: float = 2.0
) -> dict[str, Any]:
    """Send `seconds` of camera frames at `fps` to the agent at `url` and measure what returns."""
    period = round(SCENE_PERIOD_S * fps)
    scenes = [face_scene(i / fps)[0] for i in range(period)]
    warmup = round(warmup_s * fps)
    returned = _Returned(fps, check_from=warmup)
    client = VoxroomClient(url, video=True, on_video=returned.on_frame)
    sent: dict[int, float] = {}
    await client.connect()
    try:
        assert client.camera is not None
        start = time.monotonic()
        total = round(seconds * fps)
        for counter in range(total):
            await asyncio.sleep(max(0.0, start + counter / fps - time.monotonic()))
            image = scenes[counter % period].copy()
            write_barcode(image, counter)
            sent[counter] = time.monotonic()
            client.camera.push(image, "bgr24")
        await asyncio.sleep(1.0)  # frames still in flight
        camera_stats = client.camera.stats
    finally:
        await client.close()
    stats = [(t, m) for t, m in client.messages if m.get("type") == "video_stats"]
    if not stats or not returned.arrived:
        raise RuntimeError("the agent returned no video (is it a video agent?)")
    steady = [(t, m) for t, m in stats if t >= start + warmup_s] or stats
    (t0, m0), (t1, m1) = steady[0], steady[-1]
    processed_fps = (
        (m1["processed_frames"] - m0["processed_frames"]) / (t1 - t0)
        if t1 > t0
        else float(m1["processed_fps"])
    )
    said = [m["text"] for m in client.transcripts("agent") if m.get("text")]
    delays = [(arrived - sent[c]) * 1e3 for c, arrived in returned.arrived.items() if c >= warmup]
    steady_sent = max(1, total - warmup)
    return {
        "seconds": seconds,
        "camera_fps": fps,
        "frame_size": f"{scenes[0].shape[1]}x{scenes[0].shape[0]}",
        "processed_fps": round(processed_fps, 2),
        "dropped_frames_pct": m1["dropped_pct"],
        "e2e_delay_ms": {
            "p50": percentile(delays, 0.5) if delays else None,
            "p90": percentile(delays, 0.9) if delays else None,
        },
        "face_boxes_hit_rate": round(returned.hits / returned.checked, 3)
        if returned.checked
        else 0.0,
        "returned_frames_pct": round(100 * len(delays) / steady_sent, 1),
        "agent_delay_ms_p50": m1.get("agent_delay_ms"),
        "camera_frames_sent": camera_stats.sent_frames,
        "agent_frames_received": m1["received_frames"],
        "unreadable_frames": returned.unreadable,
        "agent_said": said,  # the face agent's spoken remarks, if it makes any
    }


def run_video_bench(
    seconds: float = 20.0, fps: float = 15.0, url: str | None = None
) -> dict[str, Any]:
    """Start `voxroom dev` with the bench face agent (unless `url` names a running face agent)
    and stream to it. Keys: processed_fps, dropped_frames_pct, e2e_delay_ms.{p50,p90},
    face_boxes_hit_rate, and the figures behind them."""
    # This process receives the agent's video like the server receives the camera's: same
    # receive-side tuning (loopback candidates, jitter buffers).
    tuning.apply(TransportConfig().jitter_prefetch, ["127.0.0.1"])
    if url is not None:
        return asyncio.run(stream_faces(url, seconds, fps))
    with tempfile.TemporaryDirectory(prefix="voxroom-bench-") as tmp:
        with running_server(Path(tmp) / "server.log", "--agent", BENCH_AGENT) as server_url:
            return asyncio.run(stream_faces(server_url, seconds, fps))


def print_report(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    delay = report["e2e_delay_ms"]
    table = Table("figure", "value")
    table.add_row("camera", f"{report['frame_size']} at {report['camera_fps']} fps")
    table.add_row("processed fps", str(report["processed_fps"]))
    table.add_row("dropped frames", f"{report['dropped_frames_pct']} %")
    table.add_row("e2e delay p50 / p90", f"{delay['p50']} / {delay['p90']} ms")
    table.add_row("agent delay p50", f"{report['agent_delay_ms_p50']} ms")
    table.add_row("face boxes hit rate", str(report["face_boxes_hit_rate"]))
    table.add_row("frames returned", f"{report['returned_frames_pct']} %")
    Console().print(table)
