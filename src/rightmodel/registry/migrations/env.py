"""Alembic environment for the registry index.

The registry always hands us an open connection (``config.attributes["connection"]``) already
inside a write transaction; offline ``--sql`` mode and ini-file configuration are not used.
"""

from __future__ import annotations

from alembic import context

from rightmodel.registry.index import ALEMBIC_VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("registry migrations run through rightmodel.registry.index.migrate()")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=ALEMBIC_VERSION_TABLE,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode rebuilds tables
)
with context.begin_transaction():
    context.run_migrations()
