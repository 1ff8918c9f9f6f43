"""The conversation the frontier answered, beside the input text: what a generative specialist
distilled from the capture is trained on (its system prompt and earlier turns included).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06

Nullable: rows captured before it, and rows whose conversation was one user message (then equal
to ``input``), have none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("distill_captures") as batch:
        batch.add_column(sa.Column("prompt", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("distill_captures") as batch:
        batch.drop_column("prompt")
