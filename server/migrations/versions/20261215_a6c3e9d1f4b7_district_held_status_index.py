"""the district's few: listed and counted from their own indexes

SQLite keeps no statistics here, and read the cases the district holds by indexes of
every open case: the district's desk listed its few by the whole queue's index
(urgent = ?), and the counts on every town's queue page (what went up) and on the
district's desk sought every open case of each status, or scanned every open case of the
town: 80 ms of a town center's 137 ms page at a million cases (issue 20). The district's
list index is now led by the flag, which the queue asks as an equality; and a second
partial index holds the same few led by their status, covering what the counts test.

Revision ID: a6c3e9d1f4b7
Revises: f3c8e1a7b295
Create Date: 2026-12-06 18:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a6c3e9d1f4b7'
down_revision = 'f3c8e1a7b295'
branch_labels = None
depends_on = None

DISTRICT_HELD = "held_by_district AND due_at IS NOT NULL"


def upgrade():
    # The district's queue list: led by the flag, which the queue asks as an equality
    # (`held_by_district IS 1`), so that SQLite seeks it rather than the whole queue's
    # index on `urgent = ?` (every open case of the district, 52 ms at a million).
    op.drop_index("ix_case_file_district_held", table_name="case_file")
    op.create_index(
        "ix_case_file_district_held",
        "case_file",
        ["held_by_district", "urgent", "due_at", "id"],
        unique=False,
        sqlite_where=sa.text(DISTRICT_HELD),
        postgresql_where=sa.text(DISTRICT_HELD),
    )
    op.create_index(
        "ix_case_file_district_status",
        "case_file",
        ["status", "town_id", "held_as_spam", "village_id", "category_id", "risk_level",
         "supervised", "held_by_district", "due_at"],
        unique=False,
        sqlite_where=sa.text(DISTRICT_HELD),
        postgresql_where=sa.text(DISTRICT_HELD),
    )


def downgrade():
    op.drop_index("ix_case_file_district_status", table_name="case_file")
    op.drop_index("ix_case_file_district_held", table_name="case_file")
    op.create_index(
        "ix_case_file_district_held",
        "case_file",
        ["urgent", "due_at", "id"],
        unique=False,
        sqlite_where=sa.text(DISTRICT_HELD),
        postgresql_where=sa.text(DISTRICT_HELD),
    )
