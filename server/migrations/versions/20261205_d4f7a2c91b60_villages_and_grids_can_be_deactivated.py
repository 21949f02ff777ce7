"""villages and grids can be deactivated

A town redraws its grids and merges villages (合村并居): the old rows stay for their cases
and figures, and leave the pickers, posters and the screening duty.

Revision ID: d4f7a2c91b60
Revises: c3e8a1d07f55
Create Date: 2026-12-05 23:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd4f7a2c91b60'
down_revision = 'c3e8a1d07f55'
branch_labels = None
depends_on = None


def upgrade():
    for table in ("village", "grid"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true())
            )
            if table == "village":  # the duty of periods before it still counts it
                batch_op.add_column(
                    sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True)
                )


def downgrade():
    for table in ("village", "grid"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("active")
            if table == "village":
                batch_op.drop_column("deactivated_at")
