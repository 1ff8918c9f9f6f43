"""Initial ledger schema: one row per gateway request, keyed by our request id.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

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
        "ledger_requests",
        # Primary key = idempotency key: re-shipping a journal row is an ON CONFLICT no-op.
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant", sa.String(256), nullable=True),
        sa.Column("endpoint", sa.String(256), nullable=False),
        sa.Column("task", sa.String(128), nullable=True),
        sa.Column("route", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("model", sa.String(256), nullable=True),
        sa.Column("tokens_in", sa.BigInteger, nullable=False),
        sa.Column("tokens_out", sa.BigInteger, nullable=False),
        sa.Column("cached_tokens", sa.BigInteger, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=True),
        sa.Column("routing_ms", sa.Float, nullable=True),
        sa.Column("model_ms", sa.Float, nullable=True),
        sa.Column("cost_usd", sa.Float, nullable=True),
        sa.Column("counterfactual_cost_usd", sa.Float, nullable=True),
        sa.Column("confidence", sa.Float, nullable=True),
        sa.Column("escalated", sa.Boolean, nullable=False),
        sa.Column("stream", sa.Boolean, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("extra", sa.JSON, nullable=False),
    )
    # Reports slice by time, by task over time and by tenant over time.
    op.create_index("ix_ledger_requests_created_at", "ledger_requests", ["created_at"])
    op.create_index("ix_ledger_requests_task_created_at", "ledger_requests",
                    ["task", "created_at"])
    op.create_index("ix_ledger_requests_tenant_created_at", "ledger_requests",
                    ["tenant", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_ledger_requests_tenant_created_at", table_name="ledger_requests")
    op.drop_index("ix_ledger_requests_task_created_at", table_name="ledger_requests")
    op.drop_index("ix_ledger_requests_created_at", table_name="ledger_requests")
    op.drop_table("ledger_requests")
