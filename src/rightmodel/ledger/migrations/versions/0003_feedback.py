"""Feedback on answers, and what a specialist said, so accuracy can be measured live (issue 6).

Revision ID: 0003
Revises: 0002
Create Date: 2025-07-15

``ledger_requests`` gains ``specialist`` (the specialist version consulted, ``task@vN``, whether
it answered or escalated) and ``labels`` (the labels the answer carried, when the answer is a
label: a JSON list). Both nullable: older rows and journal lines stay valid with NULLs.

``ledger_feedback`` holds one verdict per request (a later one replaces it): the correct
label(s) and/or a score and/or a bare correct/incorrect, plus the verdicts derived from them,
with the request's task, route, model and specialist copied in so reports never join 1M rows.

Written out explicitly (not imported from store.py) so later model changes never rewrite history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_requests") as batch:
        batch.add_column(sa.Column("specialist", sa.String(256), nullable=True))
        batch.add_column(sa.Column("labels", sa.JSON, nullable=True))
    op.create_table(
        "ledger_feedback",
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant", sa.String(256), nullable=True),
        sa.Column("task", sa.String(128), nullable=True),
        sa.Column("route", sa.String(64), nullable=False),
        sa.Column("model", sa.String(256), nullable=True),
        sa.Column("specialist", sa.String(256), nullable=True),
        sa.Column("labels", sa.JSON, nullable=True),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("correct", sa.Boolean, nullable=True),
        sa.Column("specialist_correct", sa.Boolean, nullable=True),
    )
    op.create_index("ix_ledger_feedback_request_created_at", "ledger_feedback", ["request_created_at"])


def downgrade() -> None:
    op.drop_index("ix_ledger_feedback_request_created_at", table_name="ledger_feedback")
    op.drop_table("ledger_feedback")
    with op.batch_alter_table("ledger_requests") as batch:
        batch.drop_column("labels")
        batch.drop_column("specialist")
