"""monthly received: the reports a month received, kept by the sweep with a revision

The dashboard's year counted each month's received reports afresh from the cases (at a
district's million cases a year, 12 statements and a few hundred thousand rows). Once a
month is over the sweep keeps them; merges and re-categorisations after it count a
revision, and a month whose kept revision is behind is counted afresh (issue 21).

Revision ID: d91a6b3f2c07
Revises: b4f7c2e9a815
Create Date: 2026-12-06 16:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd91a6b3f2c07'
down_revision = 'b4f7c2e9a815'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "monthly_received",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("revision", sa.Integer(), server_default="0", nullable=False),
        sa.Column("kept_revision", sa.Integer(), nullable=True),
        sa.Column("received", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_monthly_received")),
    )


def downgrade():
    op.drop_table("monthly_received")
