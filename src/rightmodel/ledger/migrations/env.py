"""Alembic environment for the request ledger.

``store.migrate`` always hands us an open connection (``config.attributes["connection"]``)
already inside a write transaction; offline ``--sql`` mode and ini-file configuration are not
used. The version table is the ledger's own, so the ledger can share a database with the
registry.
"""

from __future__ import annotations

from alembic import context

from rightmodel.ledger.store import ALEMBIC_VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("ledger migrations run through rightmodel.ledger.store.migrate()")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=ALEMBIC_VERSION_TABLE,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode rebuilds tables
)
with context.begin_transaction():
    context.run_migrations()
