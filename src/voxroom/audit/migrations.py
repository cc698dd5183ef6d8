"""Schema migrations with Alembic, applied when a store opens (`schema_migrations/`).

Opening is idempotent, and several processes may open the same database at once: on
PostgreSQL they take turns on an advisory lock; on SQLite the caller's `BEGIN IMMEDIATE`
serializes them. All steps run in the caller's one transaction (DDL is transactional on both).

Revisions are additive, so a rolling deploy works: the new release migrates the database
while workers of the previous one keep writing to it. A database migrated by a newer voxroom
(a revision this one does not know) is refused rather than written with an older schema in
mind.

Databases made before Alembic (voxroom's own runner recorded version 1 in `schema_version`)
hold exactly revision 0001's schema: they are stamped 0001, then upgraded. The old table is
left alone, so releases from before Alembic still open the database during a rollout.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection

SCRIPTS = Path(__file__).resolve().parent / "schema_migrations"
# Any constant shared by all voxroom processes: serializes concurrent migrations (PostgreSQL).
_LOCK_KEY = 0x766F78726F6F6D  # "voxroom"
_PRE_ALEMBIC = "0001"  # the revision a database from voxroom's own runner (version 1) holds


class SchemaVersionError(RuntimeError):
    """The database was migrated by a newer voxroom than this one."""


def _config(conn: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = conn
    return config


def revisions() -> list[str]:
    """Every revision this voxroom knows, oldest first."""
    script = ScriptDirectory(str(SCRIPTS))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


LATEST_VERSION = revisions()[-1]


def upgrade(conn: Connection) -> str:
    """Bring the database to this voxroom's head revision; return it."""
    config = _config(conn)
    current = MigrationContext.configure(conn).get_current_revision()
    known = revisions()
    if current is not None and current not in known:
        raise SchemaVersionError(
            f"the audit database is at schema revision {current}, which this voxroom does not "
            f"know (it knows up to {known[-1]}): upgrade voxroom (or point it at another "
            "database)"
        )
    if current is None and _made_before_alembic(conn):
        command.stamp(config, _PRE_ALEMBIC)
    try:
        command.upgrade(config, "head")
    except CommandError as exc:  # e.g. a revision that branches from one we lack
        raise SchemaVersionError(f"cannot migrate the audit database: {exc}") from exc
    return LATEST_VERSION


def _made_before_alembic(conn: Connection) -> bool:
    tables = set(inspect(conn).get_table_names())
    if "schema_version" not in tables or "sessions" not in tables:
        return False
    newest = conn.execute(text("SELECT max(version) FROM schema_version")).scalar() or 0
    if newest > 1:
        raise SchemaVersionError(
            f"the audit database is at schema version {newest} of a voxroom that did not use "
            "Alembic: upgrade voxroom (or point it at another database)"
        )
    return True


async def migrate(conn: AsyncConnection) -> str:
    """Run `upgrade` on `conn`, which must be in a write transaction."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    return await conn.run_sync(upgrade)
