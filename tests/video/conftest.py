"""A real `voxroom dev` running the face agent (real models: it also speaks its remarks)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import RunningServer
from voxroom.bench.harness import start_server, stop_server

FACE_AGENT = "voxroom.apps.faces:FaceAgent"


@pytest.fixture(scope="session")
def face_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log_path = tmp_path_factory.mktemp("face-server") / "voxroom-dev.log"
    process, url = start_server(log_path, "--agent", FACE_AGENT)
    yield RunningServer(url, log_path)
    stop_server(process)
