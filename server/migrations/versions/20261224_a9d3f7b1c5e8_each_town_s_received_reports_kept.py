"""each town's received reports kept with the month's

A month's received reports (monthly_received) are kept by the sweep as of the month's
latest change; a town's year counted its own from the cases, twelve reads of a month's
reports. The kept months now hold each town's part too (server/figures/partials.py,
Received.by_town). A data change only: the kept months the sweep still looks at (the
last 96, server/figures/partials.py keep_month_figures) are marked stale (kept_revision
NULL), so that it keeps them again with their towns, 24 a run (60 months at a million
cases: 4 s). Until it has, each is counted from the cases, the district's as a town's.
An older month keeps its row: a town counts it from the cases (Received.of_town finds no
towns in it), the district still reads it. Downgrade keeps the rows: an older release
reads what it knows of them and leaves the towns' part alone.

Revision ID: a9d3f7b1c5e8
Revises: f5c9e3a7b2d4
Create Date: 2026-12-07 21:45:00.000000

"""
from datetime import date

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a9d3f7b1c5e8'
down_revision = 'f5c9e3a7b2d4'
branch_labels = None
depends_on = None


def upgrade():
    today = date.today()
    months = today.year * 12 + today.month - 1 - 96
    since = date(months // 12, months % 12 + 1, 1)
    stale = sa.text(
        "UPDATE monthly_received SET kept_revision = NULL WHERE month >= :since"
    ).bindparams(sa.bindparam("since", since, type_=sa.Date))
    op.get_bind().execute(stale)


def downgrade():
    pass
