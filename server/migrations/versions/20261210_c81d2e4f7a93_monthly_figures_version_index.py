"""monthly figures: an index of their version, read by the sweep every minute

The sweep counts every minute the months kept by an older version and lists those kept by
this one; read from the rows, SQLite walked each month's figures (overflow pages that grow
with the town's cases) to reach the version behind them (issue 20, point 3).

Revision ID: c81d2e4f7a93
Revises: a7e3c91d5f20
Create Date: 2026-12-06 09:40:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c81d2e4f7a93'
down_revision = 'a7e3c91d5f20'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_monthly_figures_version", "monthly_figures", ["version", "month"])


def downgrade():
    op.drop_index("ix_monthly_figures_version", table_name="monthly_figures")
