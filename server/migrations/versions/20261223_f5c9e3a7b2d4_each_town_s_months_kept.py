"""each town's months kept, where the deployment holds several towns

The sweep keeps each month's event figures once the month is over (monthly_figures), so
that a year adds up twelve rows. Those are the whole deployment's: in a district, a
town's people, who see their own town's figures, had their year counted from a year of
their town's events, 2.4 s for a town of 100,000 cases a year in a district of ten
million cases (issue 21). town_monthly_figures keeps each town's months the same way;
the sweep fills it (server/figures/partials.py, keep_month_figures), and until it has,
a town's months are counted as before.

Revision ID: f5c9e3a7b2d4
Revises: e4b8d2f6a1c3
Create Date: 2026-12-07 12:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f5c9e3a7b2d4'
down_revision = 'e4b8d2f6a1c3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('town_monthly_figures',
    sa.Column('town_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('partial', sa.JSON(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['town_id'], ['town.id'], name=op.f('fk_town_monthly_figures_town_id_town'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('town_id', 'month', name=op.f('pk_town_monthly_figures'))
    )
    op.create_index('ix_town_monthly_figures_version', 'town_monthly_figures', ['version', 'town_id', 'month'], unique=False)


def downgrade():
    op.drop_index('ix_town_monthly_figures_version', table_name='town_monthly_figures')
    op.drop_table('town_monthly_figures')
