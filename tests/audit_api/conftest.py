"""An in-process app (fake models, audit store in a temp dir) with the audit API and metrics
registered on it, and audited sessions seeded through the real writer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aioice.ice
import aiortc.rtcrtpreceiver
import aiortc.rtcrtpsender
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.audit_api.sessions import ScriptedLog, emit_voice_session, write_recordings
from tests.unit.fakes import FakeAgent, fake_models
from voxroom.audit.cost import PriceTable
from voxroom.config import ModelsConfig, TransportConfig, VoxroomConfig
from voxroom.server.app import AUTHORITY, REGISTRY, create_app
from voxroom.server.audit_api import AUDIT_API, AUDIT_SCOPE, add_audit_routes
from voxroom.server.audit_service import AuditService
from voxroom.server.auth import TokenAuthority
from voxroom.server.metrics import METRICS, VoxroomMetrics, add_metrics_route
from voxroom.transport.webrtc import tuning

SECRET = "audit-api-test-secret-0123456789abcdef"


def make_config(cache_dir: Path) -> VoxroomConfig:
    return VoxroomConfig(
        models=ModelsConfig(cache_dir=cache_dir),  # the audit store and files live in here
        transport=TransportConfig(ice_addresses=["127.0.0.1"]),
    )


def build_app(config: VoxroomConfig) -> web.Application:
    """create_app, plus the audit API and /metrics unless create_app registers them already
    (it will once they are wired in)."""
    app = create_app(config, fake_models(), FakeAgent, TokenAuthority(SECRET))
    registry = app[REGISTRY]
    if AUDIT_API not in app:
        add_audit_routes(app, lambda: registry.audit, app[AUTHORITY], config.audit)
    if METRICS not in app:
        add_metrics_route(app, VoxroomMetrics(PriceTable.load(config.audit.prices)))
    return app


def audit_service(app: web.Application) -> AuditService:
    service = app[REGISTRY].audit
    assert service is not None, "the app has not started, or its audit trail is off"
    return service


def token(scopes: list[str], ttl_s: int = 600, identity: str = "auditor") -> str:
    return TokenAuthority(SECRET).issue(identity, scopes, ttl_s)[0]


def bearer(scopes: list[str] | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(scopes or [AUDIT_SCOPE])}"}


async def seed_session(
    service: AuditService, session_id: str, agent: str = "hotel concierge", files: bool = True
) -> None:
    """The scripted voice session, through a real SessionEventLog and the audit writer."""
    if files:
        await asyncio.to_thread(write_recordings, service.session_dir(session_id))
    log = ScriptedLog(session_id)
    service.attach(log)
    emit_voice_session(log, agent=agent)
    await service.writer.flush()


@pytest.fixture(autouse=True)
def undo_process_tuning(monkeypatch: pytest.MonkeyPatch) -> None:
    """create_app() patches aiortc/aioice process-wide: put everything back afterwards."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses", aioice.ice.get_host_addresses)
    receiver = vars(aiortc.rtcrtpreceiver)
    monkeypatch.setattr(aiortc.rtcrtpreceiver, "JitterBuffer", receiver["JitterBuffer"])
    rtp = vars(aiortc.rtcrtpsender)["rtp"]
    monkeypatch.setattr(rtp, "compute_audio_level_dbov", rtp.compute_audio_level_dbov)
    monkeypatch.setitem(tuning._settings, "prefetch", tuning._settings["prefetch"])


@dataclass
class AuditApp:
    client: TestClient[web.Request, web.Application]
    app: web.Application
    files_dir: Path

    @property
    def service(self) -> AuditService:
        return audit_service(self.app)

    async def seed(self, session_id: str, **kwargs: object) -> None:
        await seed_session(self.service, session_id, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def audit_app(tmp_path: Path) -> AsyncIterator[AuditApp]:
    config = make_config(tmp_path / "cache")
    app = build_app(config)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield AuditApp(client, app, audit_service(app).files_dir)
    finally:
        await client.close()


@pytest.fixture
async def seeded(audit_app: AuditApp) -> AuditApp:
    """Two sessions of two agents, a moment apart; the first with recordings."""
    await audit_app.seed("sessionA1", agent="hotel concierge")
    await asyncio.sleep(0.02)
    await audit_app.seed("sessionB2", agent="help desk", files=False)
    return audit_app
