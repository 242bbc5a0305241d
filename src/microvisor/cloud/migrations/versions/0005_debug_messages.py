"""Remote-debugging messages from devices, kept briefly for the developer's stream.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from microvisor.cloud.models import RowId, UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_debug_messages",
        sa.Column("id", RowId, primary_key=True),
        sa.Column("device_id", RowId, sa.ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("date_created", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_device_debug_messages_device_id_id", "device_debug_messages", ["device_id", "id"])
    op.create_index("ix_device_debug_messages_date_created", "device_debug_messages", ["date_created"])


def downgrade() -> None:
    op.drop_table("device_debug_messages")
