"""promise cadence: how often a plan's instalments fall due

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plans were monthly only; "20 a week" is now a weekly plan. Existing rows were monthly.
    with op.batch_alter_table("promises") as batch:
        batch.add_column(sa.Column("every", sa.String(16), nullable=False, server_default="month"))


def downgrade() -> None:
    with op.batch_alter_table("promises") as batch:
        batch.drop_column("every")
