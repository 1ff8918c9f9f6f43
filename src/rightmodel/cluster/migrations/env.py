"""Alembic environment for the shared limits store.

``limits_store.SharedLimits.migrate`` hands us an open connection inside a write transaction;
the version table is the store's own, so it can share a database with the keys and the ledger.
"""

from __future__ import annotations

from alembic import context

from rightmodel.cluster.limits_store import ALEMBIC_VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("limits store migrations run through rightmodel.cluster.limits_store.SharedLimits.migrate()")

context.configure(connection=connection, target_metadata=metadata, version_table=ALEMBIC_VERSION_TABLE, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
