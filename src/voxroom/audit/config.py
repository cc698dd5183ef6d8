"""Audit settings: where the store is, what is redacted, how things are priced and kept."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from voxroom.audit.redact import RedactionPolicy
from voxroom.audit.store import default_url, normalize_url


class AuditConfig(BaseModel):
    enabled: bool = True
    # The audit trail's folder: the SQLite store by default, recordings (files/) and the
    # server processes' session journals (instances/, see `recovery`). None = <cache_dir>/audit.
    dir: Path | None = None
    # SQLAlchemy URL or SQLite file path; None = <audit dir>/audit.db.
    # PostgreSQL: postgresql+asyncpg://user:password@host/db (same schema, same migrations).
    url: str | None = None
    prices: Path | None = None  # price table (JSON); None = the packaged prices.json
    redaction: RedactionPolicy = Field(default_factory=RedactionPolicy)
    retention_days: float | None = None  # None = keep forever
    # The writer commits at least this often: the most a killed process can lose.
    flush_interval_ms: int = 200
    batch_size: int = 256  # or as soon as this many events wait

    def audit_dir(self, cache_dir: Path) -> Path:
        return self.dir if self.dir is not None else cache_dir / "audit"

    def database_url(self, cache_dir: Path) -> str:
        return normalize_url(self.url) if self.url else default_url(self.audit_dir(cache_dir))

    def files_dir(self, cache_dir: Path) -> Path:
        """Where session files (recordings) live: one folder per session id, purged with it."""
        return self.audit_dir(cache_dir) / "files"

    def instances_dir(self, cache_dir: Path) -> Path:
        """Where each server process journals the sessions it runs (`recovery`)."""
        return self.audit_dir(cache_dir) / "instances"
