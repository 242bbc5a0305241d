"""Crash reports: apps' ELFs (stored once by SHA-256), symbolicated reports and their groups.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from microvisor.cloud.models import RowId, UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "elf_files",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("build_id", sa.String(64), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("date_created", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "app_elfs",
        sa.Column("app_id", RowId, sa.ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("elf_sha256", sa.String(64), sa.ForeignKey("elf_files.sha256"), nullable=False),
    )
    op.create_index("ix_app_elfs_elf_sha256", "app_elfs", ["elf_sha256"])
    op.create_table(
        "crash_groups",
        sa.Column("id", RowId, primary_key=True),
        sa.Column("sid", sa.String(34), nullable=False, unique=True),
        sa.Column("account_id", RowId, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("signature_hash", sa.String(64), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("fault_type", sa.String(300), nullable=False),
        sa.Column("functions", sa.Text(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("date_first", UtcDateTime(), nullable=False),
        sa.Column("date_last", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("account_id", "signature_hash"),
    )
    op.create_table(
        "crash_tallies",
        sa.Column("group_id", RowId, sa.ForeignKey("crash_groups.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("device_id", RowId, sa.ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("manifest_hash", sa.String(64), primary_key=True),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("date_last", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "crash_reports",
        sa.Column("id", RowId, primary_key=True),
        sa.Column("sid", sa.String(34), nullable=False, unique=True),
        sa.Column("account_id", RowId, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("device_id", RowId, sa.ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
        sa.Column("app_id", RowId, sa.ForeignKey("apps.id", ondelete="SET NULL"), nullable=True),
        sa.Column("manifest_hash", sa.String(64), nullable=True),
        sa.Column("group_id", RowId, sa.ForeignKey("crash_groups.id", ondelete="SET NULL"), nullable=True),
        sa.Column("sealed", sa.Boolean(), nullable=False),
        sa.Column("fault", sa.Text(), nullable=True),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("frames", sa.Text(), nullable=False),
        sa.Column("date_created", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_crash_reports_account_id_id", "crash_reports", ["account_id", "id"])
    op.create_index("ix_crash_reports_device_id_id", "crash_reports", ["device_id", "id"])
    op.create_index("ix_crash_reports_app_id", "crash_reports", ["app_id"])
    op.create_index("ix_crash_reports_group_id", "crash_reports", ["group_id"])
    op.create_index("ix_crash_reports_date_created", "crash_reports", ["date_created"])


def downgrade() -> None:
    op.drop_table("crash_reports")
    op.drop_table("crash_tallies")
    op.drop_table("crash_groups")
    op.drop_table("app_elfs")
    op.drop_table("elf_files")
