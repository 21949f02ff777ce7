"""league standards: the 考核 measures' weights and pass marks, set by the system admin

Revision ID: 3b3fb388f370
Revises: 0e9627a075ed
Create Date: 2026-12-06 02:30:00.000000

"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = '3b3fb388f370'
down_revision = '0e9627a075ed'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "league_standard",
        sa.Column("measure", sa.String(length=16), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("pass_mark", sa.Float(), nullable=False),
        sa.Column("min_sample", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["updated_by_id"], ["user_account.id"], name=op.f("fk_league_standard_updated_by_id_user_account")),
        sa.PrimaryKeyConstraint("measure", name=op.f("pk_league_standard")),
    )


def downgrade():
    op.drop_table("league_standard")
