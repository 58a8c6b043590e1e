"""campaigns: outbound campaigns, their targets, and the campaign behind each contact

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

LINKED = ("contact_attempts", "conversations", "calls")


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_campaigns_tenant", "campaigns", ["tenant"])
    op.create_index("ix_campaigns_status", "campaigns", ["status"])
    op.create_table(
        "campaign_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("debtor_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("refusals", sa.Integer(), nullable=False),
        sa.Column("last_outcome", sa.String(length=32), nullable=True),
        sa.Column("last_rules", sa.JSON(), nullable=False),
        sa.Column("call_id", sa.String(length=36), nullable=True),
        sa.Column("link_token", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"]),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "account_id", name="uq_campaign_targets_account"),
        sa.UniqueConstraint("link_token"),
    )
    for column in ("campaign_id", "account_id", "debtor_id", "status", "next_at"):
        op.create_index(f"ix_campaign_targets_{column}", "campaign_targets", [column])
    for table in LINKED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("campaign_id", sa.Integer(), nullable=True))
        op.create_index(f"ix_{table}_campaign_id", table, ["campaign_id"])


def downgrade() -> None:
    for table in LINKED:
        op.drop_index(f"ix_{table}_campaign_id", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("campaign_id")
    op.drop_table("campaign_targets")
    op.drop_table("campaigns")
