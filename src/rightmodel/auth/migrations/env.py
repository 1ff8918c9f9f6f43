"""Alembic environment for the API key store.

``store.KeyStore.migrate`` always hands us an open connection (``config.attributes["connection"]``)
already inside a write transaction; offline ``--sql`` mode and ini-file configuration are not
used. The version table is the key store's own, so it can share a database with the registry
and the ledger.
"""

from __future__ import annotations

from alembic import context

from rightmodel.auth.store import ALEMBIC_VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("key store migrations run through rightmodel.auth.store.KeyStore.migrate()")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=ALEMBIC_VERSION_TABLE,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode rebuilds tables
)
with context.begin_transaction():
    context.run_migrations()
