"""Privacy columns: the policy applied to a request, what it did, and entity counts (issue 5).

Revision ID: 0002
Revises: 0001
Create Date: 2025-07-01

All three are nullable, so rows from before this revision (and journal lines written by older
code) stay valid with NULLs: NULL policy means detection did not run for that request.
``pii_entities`` holds entity type -> count only, never the detected values.

Written out explicitly (not imported from store.py) so later model changes never rewrite history.
Batch mode: on SQLite an added column is a plain ALTER TABLE, a dropped one rebuilds the table
(rows and indexes kept); on PostgreSQL both are plain ALTER TABLE.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_requests") as batch:
        batch.add_column(sa.Column("privacy_policy", sa.String(16), nullable=True))
        batch.add_column(sa.Column("privacy_action", sa.String(32), nullable=True))
        batch.add_column(sa.Column("pii_entities", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger_requests") as batch:
        batch.drop_column("pii_entities")
        batch.drop_column("privacy_action")
        batch.drop_column("privacy_policy")
