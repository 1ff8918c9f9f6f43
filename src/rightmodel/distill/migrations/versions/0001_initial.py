"""Captured (input, frontier answer) pairs, per task: the raw material of distillation.

Revision ID: 0001
Revises:
Create Date: 2025-08-01

Written out explicitly (not imported from store.py) so later model changes never rewrite history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "distill_captures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("task", sa.String(128), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("route", sa.String(64), nullable=False),
        sa.Column("model", sa.String(256), nullable=True),
        sa.Column("input", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("redacted", sa.Boolean, nullable=False),
    )
    op.create_index("ix_distill_captures_task_created_at", "distill_captures", ["task", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_distill_captures_task_created_at", table_name="distill_captures")
    op.drop_table("distill_captures")
