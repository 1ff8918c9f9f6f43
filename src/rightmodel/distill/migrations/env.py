"""Alembic environment for the capture store (distill/store.py). ``CaptureStore.migrate`` hands us
an open connection inside a write transaction; the version table is the store's own, so captures
may share a database with the registry, the ledger and the keys (or, better, live apart)."""

from __future__ import annotations

from alembic import context

from rightmodel.distill.store import ALEMBIC_VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("capture store migrations run through rightmodel.distill.store.CaptureStore.migrate()")

context.configure(connection=connection, target_metadata=metadata, version_table=ALEMBIC_VERSION_TABLE, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
