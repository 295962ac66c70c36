"""a proxy trial's token budget and batch size when a token or batch scan set them

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("trials", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tokens", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("batch_size", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trials", schema=None) as batch_op:
        batch_op.drop_column("batch_size")
        batch_op.drop_column("tokens")
