"""a village's cases of one category, newest first, from an index of their own

A grid worker's list narrowed to one category (or the center's, to one village and one
category) had two indexes to choose from, each serving half of it: the village's, which
then tests every case of the village for the category, and the category's, which tests
every case of the category in the town for the village. Both databases chose the
category's. For a quiet village that is every case of the category before the page is
known to be short: 53 ms a page (3.3 s from a cold cache) at a million cases on SQLite,
56 ms at ten million on PostgreSQL (issue 20's and 21's ceiling: 50). With the village
and the category leading, the page is read in order and nothing else is (issue 20).

On SQLite, which keeps no statistics here and breaks a tie between two indexes by their
age (the youngest wins: server/migrations/index_ages.py), a new index made last would win
every tie it takes part in: a village's open cases (the dashboard's supervised count and
late steps) would walk the village's every case instead of its open ones (0.5 -> 24 ms at
half a million cases, 50 ms -> 1 s for a town's villages, as a review measured). So it is
made just younger than the village's own index, and the indexes after that one are made
again in their order: every tie is broken as before, and the new index serves only what
it matches better. On SQLite the upgrade so makes 15 of the cases' indexes again, holding
the write lock while it does (a town's database: seconds; a million cases: minutes).

Revision ID: d3a7f1c9e5b2
Revises: c7e2a9f4b1d6
Create Date: 2026-12-07 08:20:00.000000

"""
from alembic import op

from server.migrations import index_ages


# revision identifiers, used by Alembic.
revision = 'd3a7f1c9e5b2'
down_revision = 'c7e2a9f4b1d6'
branch_labels = None
depends_on = None


NAME = "ix_case_file_village_category_newest"
AFTER = "ix_case_file_village_newest"


def upgrade():
    op.create_index(NAME, "case_file", ["village_id", "category_id", "created_at", "id"])
    index_ages.place("case_file", NAME, after=AFTER)  # SQLite's ties: see above


def downgrade():
    op.drop_index(NAME, table_name="case_file")
