"""A key's own privacy policy (issue 5): "local-only", "redact" or "allow"; NULL for none.

Revision ID: 0002
Revises: 0001
Create Date: 2025-07-01

Nullable, so keys made before this revision keep working unchanged (no policy of their own: the
task's policy alone applies). Written out explicitly (not imported from store.py) so later model
changes never rewrite history. Batch mode: on SQLite an added column is a plain ALTER TABLE, a
dropped one rebuilds the table (rows kept); on PostgreSQL both are plain ALTER TABLE.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("auth_keys") as batch:
        batch.add_column(sa.Column("privacy", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("auth_keys") as batch:
        batch.drop_column("privacy")
