"""trial fingerprints, and where a reused trial's result came from

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 16:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("trials", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fingerprint", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("reused_from_sweep", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("reused_from_trial", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_trials_fingerprint"), ["fingerprint"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("trials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trials_fingerprint"))
        batch_op.drop_column("reused_from_trial")
        batch_op.drop_column("reused_from_sweep")
        batch_op.drop_column("fingerprint")
