"""each town's received reports kept with the month's

A month's received reports (monthly_received) are kept by the sweep as of the month's
latest change; a town's year counted its own from the cases, twelve reads of a month's
reports. The kept months now hold each town's part too (server/figures/partials.py,
Received.by_town). A data change only: every kept month is marked stale (kept_revision
NULL), so that the sweep keeps it again with its towns, 24 months a run; meanwhile each
is counted afresh, as before. Downgrade keeps the rows: an older release reads what it
knows of them and leaves the towns' part alone.

Revision ID: a9d3f7b1c5e8
Revises: f5c9e3a7b2d4
Create Date: 2026-12-07 21:45:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'a9d3f7b1c5e8'
down_revision = 'f5c9e3a7b2d4'
branch_labels = None
depends_on = None


def upgrade():
    op.execute("UPDATE monthly_received SET kept_revision = NULL")


def downgrade():
    pass
