"""Initial registry schema: versions and the audit trail of stage changes.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written out explicitly (not imported from index.py) so later model changes never rewrite history.
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
        "registry_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task", sa.String(64), nullable=False),
        sa.Column("version", sa.String(16), nullable=False),
        sa.Column("version_num", sa.Integer, nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("data_hash", sa.String(128), nullable=True),
        sa.Column("base_model", sa.String(256), nullable=True),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("manifest_sha256", sa.String(64), nullable=False),
        sa.UniqueConstraint("task", "version_num", name="uq_registry_versions_task_num"),
        sa.UniqueConstraint("task", "version", name="uq_registry_versions_task_version"),
        sa.CheckConstraint(
            "stage IN ('candidate', 'production', 'archived')", name="ck_registry_versions_stage"
        ),
    )
    # At most one production version per task, enforced by the database itself.
    op.create_index(
        "uq_registry_versions_one_production",
        "registry_versions",
        ["task"],
        unique=True,
        sqlite_where=sa.text("stage = 'production'"),
        postgresql_where=sa.text("stage = 'production'"),
    )
    op.create_table(
        "registry_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("task", sa.String(64), nullable=False),
        sa.Column("version", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_stage", sa.String(16), nullable=True),
        sa.Column("to_stage", sa.String(16), nullable=True),
        sa.Column("forced", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("candidate_score", sa.Float, nullable=True),
        sa.Column("production_score", sa.Float, nullable=True),
    )
    op.create_index("ix_registry_events_task", "registry_events", ["task", "id"])


def downgrade() -> None:
    op.drop_index("ix_registry_events_task", table_name="registry_events")
    op.drop_table("registry_events")
    op.drop_index("uq_registry_versions_one_production", table_name="registry_versions")
    op.drop_table("registry_versions")
