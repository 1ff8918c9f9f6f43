"""Shared limits: one row per key (rate buckets, spend, reserved) and one per reservation in flight.

Revision ID: 0001
Revises:
Create Date: 2026-12-06

Written out explicitly (not imported from limits_store.py) so later model changes never rewrite history.
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
        "limit_accounts",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("period_start", sa.String(40), nullable=True),  # ISO UTC start of the budget period; NULL: total
        sa.Column("spent", sa.Float, nullable=False),
        sa.Column("reserved", sa.Float, nullable=False),
        sa.Column("rpm_cap", sa.Integer, nullable=True),
        sa.Column("rpm_level", sa.Float, nullable=True),
        sa.Column("tpm_cap", sa.BigInteger, nullable=True),
        sa.Column("tpm_level", sa.Float, nullable=True),
        sa.Column("stamp", sa.Float, nullable=False),  # wall-clock seconds of the last bucket refill
    )
    op.create_table(
        "limit_reservations",
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("period_start", sa.String(40), nullable=True),
        sa.Column("cost", sa.Float, nullable=False),
        sa.Column("instance", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_limit_reservations_key", "limit_reservations", ["key_id", "expires_at"])
    op.create_index("ix_limit_reservations_instance", "limit_reservations", ["instance"])


def downgrade() -> None:
    op.drop_table("limit_reservations")
    op.drop_table("limit_accounts")
