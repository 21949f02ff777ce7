"""department names per town: two towns may each have a department of one name

A department's name was unique in the whole deployment, so a district whose towns each
have a 东村村委会 could not hold them (issue 21). It is now unique within its town, and
among the district's own departments (town NULL, which a UNIQUE does not compare: a
partial unique index).

Revision ID: f3c8e1a7b295
Revises: d91a6b3f2c07
Create Date: 2026-12-06 17:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

from server.migrations import index_ages


# revision identifiers, used by Alembic.
revision = 'f3c8e1a7b295'
down_revision = 'd91a6b3f2c07'
branch_labels = None
depends_on = None

DISTRICT = "town_id IS NULL"


def upgrade():
    ages = index_ages.ages("department")
    with op.batch_alter_table("department", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_department_name"), type_="unique")
        batch_op.create_unique_constraint(op.f("uq_department_town_id"), ["town_id", "name"])
    index_ages.keep("department", ages)
    op.create_index(
        "uq_department_district_name",
        "department",
        ["name"],
        unique=True,
        sqlite_where=sa.text(DISTRICT),
        postgresql_where=sa.text(DISTRICT),
    )


def downgrade():
    # The schema before this one holds one department of a name in the whole deployment:
    # say so, rather than fail half-way on the UNIQUE.
    twice = op.get_bind().execute(
        sa.text("SELECT name FROM department GROUP BY name HAVING count(*) > 1")
    ).scalars().all()
    if twice:
        raise RuntimeError(
            "cannot downgrade past f3c8e1a7b295: departments of several towns share the"
            f" names {', '.join(twice)}; rename them first"
        )
    op.drop_index("uq_department_district_name", table_name="department")
    ages = index_ages.ages("department")
    with op.batch_alter_table("department", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_department_town_id"), type_="unique")
        batch_op.create_unique_constraint(op.f("uq_department_name"), ["name"])
    index_ages.keep("department", ages)
