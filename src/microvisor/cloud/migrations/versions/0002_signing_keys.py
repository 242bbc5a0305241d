"""Signing keys: the public keys an account signs app bundles with.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from microvisor.cloud.models import RowId, UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("id", RowId, primary_key=True),
        sa.Column("sid", sa.String(34), nullable=False, unique=True),
        sa.Column("account_id", RowId, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("signer_id", sa.String(16), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("friendly_name", sa.String(200)),
        sa.Column("date_created", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("account_id", "signer_id"),
    )


def downgrade() -> None:
    op.drop_table("signing_keys")
