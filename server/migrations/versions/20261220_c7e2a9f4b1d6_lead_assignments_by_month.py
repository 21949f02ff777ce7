"""the lead assignments of a month, read from an index of their own

The league tables count the cases dispatched to each department, village and grid
worker in a month (退回率's whole): lead assignments made in the month. No index held
the time an assignment was made, so each of the three counts read every assignment the
district ever made (0.2-0.3 s each at a million cases), a town's as much as the
district's. This partial index of the lead assignments, by the time, holds what the
department's and the village's counts group by, and what a town's are limited to
(issue 20, issue 21).

Revision ID: c7e2a9f4b1d6
Revises: a8d4c6e2f1b3
Create Date: 2026-12-07 05:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c7e2a9f4b1d6'
down_revision = 'a8d4c6e2f1b3'
branch_labels = None
depends_on = None

LEAD = "role = 'lead'"


def upgrade():
    op.create_index(
        "ix_case_assignment_lead_assigned",
        "case_assignment",
        ["assigned_at", "case_village_id", "department_id", "case_id"],
        unique=False,
        sqlite_where=sa.text(LEAD),
        postgresql_where=sa.text(LEAD),
    )


def downgrade():
    op.drop_index("ix_case_assignment_lead_assigned", table_name="case_assignment")
