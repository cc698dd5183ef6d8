"""The audit store's Alembic migrations (run by `voxroom.audit.migrations`, never by hand).

To change the schema: add a revision in `versions/` (e.g. `alembic -c
src/voxroom/audit/schema_migrations/alembic.ini revision -m "what changes"`, then write its
`upgrade()` by hand), and make `voxroom.audit.schema` match what the revisions produce (a test
checks they agree). Revisions must be additive (new nullable columns, tables, indexes):
during a rolling deploy, workers of the previous release write to the migrated database.
"""
