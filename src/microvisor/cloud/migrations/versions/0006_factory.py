"""The factory: SFI cards, single-use challenges, certified chips, stations' results, refused certifications.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from microvisor.cloud.models import RowId, UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", RowId, primary_key=True)


def _account(index: bool = False) -> sa.Column:
    return sa.Column("account_id", RowId, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False,
                     index=index)


def upgrade() -> None:
    op.create_table(
        "factory_cards", _id(),
        sa.Column("sid", sa.String(34), nullable=False, unique=True),
        _account(index=True),
        sa.Column("public_key", sa.String(130), nullable=False),
        sa.Column("licences", sa.Integer(), nullable=False),
        sa.Column("licences_used", sa.Integer(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("date_created", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "factory_challenges", _id(),
        sa.Column("challenge", sa.String(32), nullable=False, unique=True),
        _account(index=True),
        sa.Column("date_expires", UtcDateTime(), nullable=False, index=True),
        sa.Column("used", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "factory_certified_chips", _id(),
        sa.Column("chip_uid", sa.String(24), nullable=False, unique=True),
        sa.Column("device_sid", sa.String(34), nullable=False, unique=True),
        sa.Column("card_id", RowId, sa.ForeignKey("factory_cards.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        _account(),
        sa.Column("public_key", sa.String(130), nullable=False),
        sa.Column("certificate", sa.Text(), nullable=False),
        sa.Column("station", sa.String(200)),
        sa.Column("date_created", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_factory_certified_chips_account_id_id", "factory_certified_chips",
                    ["account_id", "id"])
    op.create_table(
        "factory_results", _id(), _account(),
        sa.Column("chip_uid", sa.String(24), nullable=False),
        sa.Column("station", sa.String(200)),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("date_created", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_factory_results_account_id_id", "factory_results", ["account_id", "id"])
    op.create_table(
        "factory_rejections", _id(), _account(),
        sa.Column("card_sid", sa.String(34)),
        sa.Column("chip_uid", sa.String(24)),
        sa.Column("station", sa.String(200)),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("date_created", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_factory_rejections_account_id_id", "factory_rejections", ["account_id", "id"])


def downgrade() -> None:
    for table in ("factory_rejections", "factory_results", "factory_certified_chips", "factory_challenges",
                  "factory_cards"):
        op.drop_table(table)
