"""towns as tenants: each case and each user belongs to a town

A case carries its village's town (fixed when it is filed); a user the town they work in,
or none for the district's center and leaders above the towns. The access policy keeps each
town's people to their own town's cases (issue 21). Existing rows take their village's,
department's or grid's town; the center, leaders and the three duties of a deployment
before this one take its (first) town: they were that town's. The queue's per-status and
held indexes carry the town, so that a town's counts still read the index alone.

Revision ID: a7e3c91d5f20
Revises: 5c1e0a7d9b42
Create Date: 2026-12-06 08:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

from server.migrations import index_ages


# revision identifiers, used by Alembic.
revision = 'a7e3c91d5f20'
down_revision = '5c1e0a7d9b42'
branch_labels = None
depends_on = None

QUEUE_STATUS = [
    "status", "urgent", "due_at", "id", "village_id", "category_id", "risk_level",
    "supervised", "held_as_spam",
]


HELD_COLUMNS = ["urgent", "due_at", "id"]
HELD = "held_as_spam AND due_at IS NOT NULL"


def _queue_indexes(batch_op, town):
    """The queue's per-status counts and its held reports, read from their indexes alone:
    with the town (a town's center's), or without."""
    for name, columns, where in (
        ("ix_case_file_queue_status", QUEUE_STATUS, "due_at IS NOT NULL"),
        ("ix_case_file_held", HELD_COLUMNS, HELD),
    ):
        batch_op.drop_index(name)
        batch_op.create_index(
            name,
            [*columns, *(["town_id"] if town else [])],
            unique=False,
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )


def upgrade():
    ages = index_ages.ages("case_file")
    with op.batch_alter_table("case_file", schema=None) as batch_op:
        batch_op.add_column(sa.Column("town_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE case_file SET town_id ="
        " (SELECT town_id FROM village WHERE village.id = case_file.village_id)"
    )
    with op.batch_alter_table("case_file", schema=None) as batch_op:
        batch_op.alter_column("town_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(op.f("fk_case_file_town_id_town"), "town", ["town_id"], ["id"])
        _queue_indexes(batch_op, town=True)
    index_ages.keep("case_file", ages)

    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("town_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE user_account SET town_id ="
        " (SELECT town_id FROM department WHERE department.id = user_account.department_id)"
        " WHERE department_id IS NOT NULL"
    )
    op.execute(
        "UPDATE user_account SET town_id = (SELECT MIN(village.town_id) FROM user_grid"
        " JOIN grid ON grid.id = user_grid.grid_id JOIN village ON village.id = grid.village_id"
        " WHERE user_grid.user_id = user_account.id) WHERE town_id IS NULL"
    )
    op.execute("UPDATE user_account SET town_id = (SELECT MIN(id) FROM town) WHERE town_id IS NULL")
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.create_foreign_key(
            op.f("fk_user_account_town_id_town"), "town", ["town_id"], ["id"]
        )
        batch_op.create_index("ix_user_account_town_id", ["town_id"], unique=False)
        batch_op.create_check_constraint(
            op.f("ck_user_account_field_staff_have_town"),
            "town_id IS NOT NULL OR role NOT IN ('grid_worker', 'handler')",
        )


def downgrade():
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_user_account_field_staff_have_town"), type_="check")
        batch_op.drop_index("ix_user_account_town_id")
        batch_op.drop_constraint(op.f("fk_user_account_town_id_town"), type_="foreignkey")
        batch_op.drop_column("town_id")
    ages = index_ages.ages("case_file")
    with op.batch_alter_table("case_file", schema=None) as batch_op:
        _queue_indexes(batch_op, town=False)
        batch_op.drop_constraint(op.f("fk_case_file_town_id_town"), type_="foreignkey")
        batch_op.drop_column("town_id")
    index_ages.keep("case_file", ages)
