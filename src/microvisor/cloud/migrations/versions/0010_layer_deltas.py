"""Binary delta updates: patches from an installed app's image to a layer, kept once made.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

from microvisor.cloud.models import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "layer_deltas",
        sa.Column("source_hash", sa.String(64), primary_key=True),
        sa.Column("layer_hash", sa.String(64), sa.ForeignKey("layers.hash", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("delta_hash", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("date_created", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_layer_deltas_delta_hash", "layer_deltas", ["delta_hash"])


def downgrade() -> None:
    op.drop_table("layer_deltas")
