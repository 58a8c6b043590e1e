"""takeover: who controls a conversation, and its wrap-up

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite cannot ALTER most things in place; both columns are nullable,
    # so existing conversations read as "bot in control, no wrap-up".
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("controlled_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("wrapup", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("wrapup")
        batch_op.drop_column("controlled_by")
