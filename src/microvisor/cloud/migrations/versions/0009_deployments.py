"""Fleet operations: deployments (staged rollouts) and their devices; the web console's sign-ins.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from microvisor.cloud.models import RowId, UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", RowId, primary_key=True),
        sa.Column("sid", sa.String(34), nullable=False, unique=True),
        sa.Column("account_id", RowId, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("app_id", RowId, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("stages", sa.String(200), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("halt_on_crash_rate", sa.Float(), nullable=False),
        sa.Column("soak_s", sa.Integer(), nullable=False),
        sa.Column("politeness_s", sa.Integer(), nullable=True),
        sa.Column("halt_reason", sa.String(500), nullable=True),
        sa.Column("date_stage_done", UtcDateTime(), nullable=True),
        sa.Column("date_created", UtcDateTime(), nullable=False),
        sa.Column("date_updated", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_deployments_account_id_id", "deployments", ["account_id", "id"])
    op.create_index("ix_deployments_status", "deployments", ["status"])
    op.create_table(
        "deployment_devices",
        sa.Column("deployment_id", RowId, sa.ForeignKey("deployments.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("device_id", RowId, sa.ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("previous_app_id", RowId, sa.ForeignKey("apps.id", ondelete="SET NULL"), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("date_targeted", UtcDateTime(), nullable=True),
        sa.Column("date_updated", UtcDateTime(), nullable=True),
    )
    op.create_index("ix_deployment_devices_device_id", "deployment_devices", ["device_id"])
    op.create_table(
        "web_sessions",
        sa.Column("id", RowId, primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("account_id", RowId, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("date_created", UtcDateTime(), nullable=False),
        sa.Column("date_expires", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_web_sessions_account_id", "web_sessions", ["account_id"])
    op.create_index("ix_web_sessions_date_expires", "web_sessions", ["date_expires"])


def downgrade() -> None:
    op.drop_table("web_sessions")
    op.drop_table("deployment_devices")
    op.drop_table("deployments")
