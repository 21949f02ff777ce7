"""district handover: the district's center holds an escalated case; district departments

An escalation (上报区级) hands the case to the district's center, which acts on it alone,
on its own clock, until it hands it back to the town (交回属地): `held_by_district`, with a
small partial index for the district's queue. A department of no town is a district
department (区直部门), which the district's center may send its cases to; its handlers
sit at the district, so only grid workers must have a town (issue 21).

Revision ID: e2b5d8a4c6f1
Revises: c81d2e4f7a93
Create Date: 2026-12-06 12:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e2b5d8a4c6f1'
down_revision = 'c81d2e4f7a93'
branch_labels = None
depends_on = None

DISTRICT_HELD = "held_by_district AND due_at IS NOT NULL"


def upgrade():
    # A plain ADD COLUMN (no rebuild of the cases' table, whose index ages SQLite's
    # planner counts on: see a7e3c91d5f20).
    op.add_column(
        "case_file",
        sa.Column("held_by_district", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index(
        "ix_case_file_district_held",
        "case_file",
        ["urgent", "due_at", "id"],
        unique=False,
        sqlite_where=sa.text(DISTRICT_HELD),
        postgresql_where=sa.text(DISTRICT_HELD),
    )
    with op.batch_alter_table("department", schema=None) as batch_op:
        batch_op.alter_column("town_id", existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_user_account_field_staff_have_town"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_user_account_grid_workers_have_town"),
            "town_id IS NOT NULL OR role <> 'grid_worker'",
        )


def downgrade():
    # The schema before this one has no place for a district department or its handlers:
    # say so, rather than fail half-way on a NOT NULL or a CHECK. (Cases the district
    # holds go back to their towns' desks: the column goes.)
    bind = op.get_bind()
    departments = bind.execute(
        sa.text("SELECT count(*) FROM department WHERE town_id IS NULL")
    ).scalar()
    handlers = bind.execute(
        sa.text("SELECT count(*) FROM user_account WHERE town_id IS NULL AND role = 'handler'")
    ).scalar()
    if departments or handlers:
        raise RuntimeError(
            f"cannot downgrade past e2b5d8a4c6f1: {departments} district department(s) and"
            f" {handlers} district handler account(s) exist; give them a town or remove them"
            " first"
        )
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_user_account_grid_workers_have_town"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_user_account_field_staff_have_town"),
            "town_id IS NOT NULL OR role NOT IN ('grid_worker', 'handler')",
        )
    with op.batch_alter_table("department", schema=None) as batch_op:
        batch_op.alter_column("town_id", existing_type=sa.Integer(), nullable=False)
    op.drop_index("ix_case_file_district_held", table_name="case_file")
    op.drop_column("case_file", "held_by_district")
