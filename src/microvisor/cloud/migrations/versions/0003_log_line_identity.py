"""Log lines named by (device, boot, sequence), stored once whichever server process receives them.

Lines stored before this revision get boot "" and their row id as sequence.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("device_logs") as table:
        table.add_column(sa.Column("boot", sa.String(32), nullable=False, server_default=""))
        table.add_column(sa.Column("sequence", sa.BigInteger(), nullable=True))
    op.execute("UPDATE device_logs SET sequence = id")
    with op.batch_alter_table("device_logs") as table:
        table.alter_column("sequence", existing_type=sa.BigInteger(), nullable=False)
    op.create_index("uq_device_logs_line", "device_logs", ["device_id", "boot", "sequence"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_device_logs_line", "device_logs")
    with op.batch_alter_table("device_logs") as table:
        table.drop_column("sequence")
        table.drop_column("boot")
