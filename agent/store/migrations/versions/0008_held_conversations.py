"""held conversations: an index on who controls a conversation

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The idle round (agent/assist/idle.py) asks every replica, every few seconds, for the
    # open conversations a person holds: a handful among millions, found by this index
    # instead of a scan of the whole table.
    op.create_index("ix_conversations_controlled_by", "conversations", ["controlled_by"])


def downgrade() -> None:
    op.drop_index("ix_conversations_controlled_by", table_name="conversations")
