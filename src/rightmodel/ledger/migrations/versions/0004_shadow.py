"""Shadow mode: what a candidate specialist said beside production, and whether it agreed (issue 8).

Revision ID: 0004
Revises: 0003
Create Date: 2025-08-01

``shadow_model`` (task@vN of the candidate that ran without answering), ``shadow_labels`` (its
labels, JSON), ``shadow_confidence``, ``shadow_accepted`` (confidence at or above its calibrated
threshold: would it have answered?) and ``shadow_agree`` (its labels equal the labels of the
answer served; NULL when the answer was not a label). All nullable: rows without a shadow keep NULLs.

Written out explicitly (not imported from store.py) so later model changes never rewrite history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_requests") as batch:
        batch.add_column(sa.Column("shadow_model", sa.String(256), nullable=True))
        batch.add_column(sa.Column("shadow_labels", sa.JSON, nullable=True))
        batch.add_column(sa.Column("shadow_confidence", sa.Float, nullable=True))
        batch.add_column(sa.Column("shadow_accepted", sa.Boolean, nullable=True))
        batch.add_column(sa.Column("shadow_agree", sa.Boolean, nullable=True))
    # Partial: only shadowed rows are indexed, so reports find them without scanning the table.
    op.create_index("ix_ledger_requests_shadow", "ledger_requests", ["shadow_model", "created_at"],
                    sqlite_where=sa.text("shadow_model IS NOT NULL"), postgresql_where=sa.text("shadow_model IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_ledger_requests_shadow", table_name="ledger_requests")
    with op.batch_alter_table("ledger_requests") as batch:
        for name in ("shadow_agree", "shadow_accepted", "shadow_confidence", "shadow_labels", "shadow_model"):
            batch.drop_column(name)
