"""Initial schema: accounts, layers, apps, devices, commands, configs, secrets, logs, events.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from microvisor.cloud.models import RowId, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", RowId, primary_key=True)


def upgrade() -> None:
    op.create_table(
        "accounts", _id(),
        sa.Column("sid", sa.String(34), nullable=False, unique=True),
        sa.Column("auth_token_hash", sa.String(64), nullable=False),
        sa.Column("friendly_name", sa.String(200), nullable=False),
        sa.Column("date_created", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "layers",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("date_created", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "apps", _id(),
        sa.Column("sid", sa.String(34), nullable=False, unique=True),
        sa.Column("account_id", RowId, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("unique_name", sa.String(200)),
        sa.Column("manifest_hash", sa.String(64), nullable=False),
        sa.Column("manifest", sa.LargeBinary(), nullable=False),
        sa.Column("date_created", UtcDateTime(), nullable=False),
        sa.Column("date_updated", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("account_id", "unique_name"),
        sa.UniqueConstraint("account_id", "manifest_hash"),
    )
    op.create_table(
        "app_layers",
        sa.Column("app_id", RowId, sa.ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column("layer_hash", sa.String(64), sa.ForeignKey("layers.hash"), nullable=False, index=True),
    )
    op.create_table(
        "devices", _id(),
        sa.Column("sid", sa.String(34), nullable=False, unique=True),
        sa.Column("account_id", RowId, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("unique_name", sa.String(200)),
        sa.Column("chip_uid", sa.String(24), nullable=False),
        sa.Column("certificate", sa.Text(), nullable=False),
        sa.Column("target_app_id", RowId, sa.ForeignKey("apps.id", ondelete="SET NULL"), index=True),
        sa.Column("date_targeted", UtcDateTime()),
        sa.Column("update_status", sa.String(16), nullable=False),
        sa.Column("update_error_code", sa.Integer(), nullable=False),
        sa.Column("reported_hash", sa.String(64)),
        sa.Column("date_reported", UtcDateTime()),
        sa.Column("logging_enabled", sa.Boolean(), nullable=False),
        sa.Column("logging_expires", UtcDateTime()),
        sa.Column("connected", sa.Boolean(), nullable=False),
        sa.Column("date_connection_changed", UtcDateTime()),
        sa.Column("date_created", UtcDateTime(), nullable=False),
        sa.Column("date_updated", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("account_id", "unique_name"),
    )
    op.create_table(
        "device_commands", _id(),
        sa.Column("device_id", RowId, sa.ForeignKey("devices.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("date_created", UtcDateTime(), nullable=False),
        sa.Column("date_delivered", UtcDateTime()),
    )
    for table, value, stamp in (("configs", sa.Column("value", sa.Text(), nullable=False), "date_updated"),
                                ("secrets", sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
                                 "date_rotated")):
        op.create_table(
            table, _id(),
            sa.Column("account_id", RowId, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
            sa.Column("device_id", RowId, sa.ForeignKey("devices.id", ondelete="CASCADE"), index=True),
            sa.Column("scope", sa.String(34), nullable=False),
            sa.Column("key", sa.String(100), nullable=False),
            value,
            sa.Column(stamp, UtcDateTime(), nullable=False),
            sa.UniqueConstraint("account_id", "scope", "key"),
        )
    op.create_table(
        "device_logs", _id(),
        sa.Column("device_id", RowId, sa.ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
        sa.Column("date_created", UtcDateTime(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
    )
    op.create_index("ix_device_logs_device_id_id", "device_logs", ["device_id", "id"])
    op.create_table(
        "device_events", _id(),
        sa.Column("device_id", RowId, sa.ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("date_created", UtcDateTime(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
    )
    op.create_index("ix_device_events_device_id_id", "device_events", ["device_id", "id"])


def downgrade() -> None:
    for table in ("device_events", "device_logs", "secrets", "configs", "device_commands", "devices",
                  "app_layers", "apps", "layers", "accounts"):
        op.drop_table(table)
