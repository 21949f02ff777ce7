"""assignment carries its case's status and village: a handler's narrowed lists

A handler's list narrowed to a status (a department's few rejected cases) or to one
village was found among every case of that status, or the department's whole history
(650 and 950 ms at ten million cases, issue 21's note). Each assignment now carries its
case's status (kept by the workflow's engine) and village (fixed when the case is
reported), with an index on each after the department, so such a list reads what it shows.

Revision ID: b4f7c2e9a815
Revises: e2b5d8a4c6f1
Create Date: 2026-12-06 15:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

from server.migrations import index_ages


# revision identifiers, used by Alembic.
revision = 'b4f7c2e9a815'
down_revision = 'e2b5d8a4c6f1'
branch_labels = None
depends_on = None

STATUSES = ("submitted", "accepted", "rejected", "merged", "dispatched", "in_progress",
            "resolved", "follow_up", "closed")
LENGTH = max(map(len, STATUSES))


def _enum():
    return sa.Enum(*STATUSES, name="assignment_case_status", native_enum=False,
                   create_constraint=True, length=LENGTH)


def upgrade():
    # Plain ADD COLUMNs, filled from the cases, then made NOT NULL with their CHECK.
    op.add_column("case_assignment", sa.Column("case_status", sa.String(LENGTH), nullable=True))
    op.add_column("case_assignment", sa.Column("case_village_id", sa.Integer(), nullable=True))
    postgres = op.get_context().dialect.name == "postgresql"
    if postgres:
        op.execute(
            "UPDATE case_assignment SET case_status = case_file.status,"
            " case_village_id = case_file.village_id"
            " FROM case_file WHERE case_file.id = case_assignment.case_id"
        )
        op.alter_column("case_assignment", "case_status", nullable=False,
                        existing_type=sa.String(LENGTH))
        op.alter_column("case_assignment", "case_village_id", nullable=False,
                        existing_type=sa.Integer())
        op.create_check_constraint(op.f("ck_case_assignment_assignment_case_status"),
                                   "case_assignment", sa.column("case_status").in_(STATUSES))
    else:
        op.execute(
            "UPDATE case_assignment SET"
            " case_status = (SELECT status FROM case_file"
            "  WHERE case_file.id = case_assignment.case_id),"
            " case_village_id = (SELECT village_id FROM case_file"
            "  WHERE case_file.id = case_assignment.case_id)"
        )
        # SQLite: the assignments' table is rebuilt with the constraint (not the cases'),
        # its indexes made again in the order they had (server/migrations/index_ages.py).
        ages = index_ages.ages("case_assignment")
        with op.batch_alter_table("case_assignment", schema=None) as batch_op:
            batch_op.alter_column("case_status", existing_type=sa.String(LENGTH),
                                  type_=_enum(), nullable=False)
            batch_op.alter_column("case_village_id", existing_type=sa.Integer(),
                                  nullable=False)
        index_ages.keep("case_assignment", ages)
    op.create_index(
        "ix_case_assignment_department_status",
        "case_assignment",
        ["department_id", "case_status", "case_created_at", "case_id"],
        unique=False,
    )
    op.create_index(
        "ix_case_assignment_department_village",
        "case_assignment",
        ["department_id", "case_village_id", "case_created_at", "case_id"],
        unique=False,
    )


def downgrade():
    op.drop_index("ix_case_assignment_department_village", table_name="case_assignment")
    op.drop_index("ix_case_assignment_department_status", table_name="case_assignment")
    ages = index_ages.ages("case_assignment")
    with op.batch_alter_table("case_assignment", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_case_assignment_assignment_case_status"),
                                 type_="check")
        batch_op.drop_column("case_village_id")
        batch_op.drop_column("case_status")
    index_ages.keep("case_assignment", ages)
