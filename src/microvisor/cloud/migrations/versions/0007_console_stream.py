"""Devices' console output shares the debug messages' table: each message names its stream.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLE = "device_debug_messages"


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("stream", sa.String(8), server_default="debug", nullable=False))
    op.drop_index("ix_device_debug_messages_device_id_id", table_name=TABLE)
    op.create_index("ix_device_debug_messages_device_id_stream_id", TABLE, ["device_id", "stream", "id"])


def downgrade() -> None:
    op.execute(sa.text(f"DELETE FROM {TABLE} WHERE stream <> 'debug'"))
    op.drop_index("ix_device_debug_messages_device_id_stream_id", table_name=TABLE)
    op.create_index("ix_device_debug_messages_device_id_id", TABLE, ["device_id", "id"])
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_column("stream")
