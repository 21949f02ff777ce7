"""time limits and routing set at the district, overridden by a town where it differs

A category's time limits and routing were one set for the whole deployment: a town's
admin who changed them changed every town's (issue 21). Each row now belongs to a town,
or to none, the district's: what every town has unless it says otherwise. The rows there
were become the district's.

Revision ID: c4e8a2b6d9f3
Revises: a6c3e9d1f4b7
Create Date: 2026-12-06 19:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

from server.migrations import index_ages


# revision identifiers, used by Alembic.
revision = 'c4e8a2b6d9f3'
down_revision = 'a6c3e9d1f4b7'
branch_labels = None
depends_on = None

DISTRICT_ROW = "town_id IS NULL"


def upgrade():
    for table in ("category_time_limit", "routing_rule"):
        ages = index_ages.ages(table)
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("town_id", sa.Integer(), nullable=True))
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_town_id_town"), "town", ["town_id"], ["id"],
                ondelete="CASCADE",
            )
            if table == "category_time_limit":
                batch_op.drop_constraint(
                    batch_op.f("uq_category_time_limit_category_id"), type_="unique"
                )
                batch_op.create_unique_constraint(
                    batch_op.f("uq_category_time_limit_town_id"),
                    ["town_id", "category_id", "step"],
                )
        index_ages.keep(table, ages)
    op.create_index(
        "uq_category_time_limit_district_step",
        "category_time_limit",
        ["category_id", "step"],
        unique=True,
        sqlite_where=sa.text(DISTRICT_ROW),
        postgresql_where=sa.text(DISTRICT_ROW),
    )


def downgrade():
    # The schema before this one holds one set for the deployment: a town's own rows
    # would become everyone's, so they are refused in words rather than merged.
    own = op.get_bind().execute(
        sa.text(
            "SELECT (SELECT count(*) FROM category_time_limit WHERE town_id IS NOT NULL)"
            " + (SELECT count(*) FROM routing_rule WHERE town_id IS NOT NULL)"
        )
    ).scalar()
    if own:
        raise RuntimeError(
            "cannot downgrade past c4e8a2b6d9f3: towns have time limits or routing of"
            " their own; set them back to the district's first"
        )
    op.drop_index("uq_category_time_limit_district_step", table_name="category_time_limit")
    for table in ("category_time_limit", "routing_rule"):
        ages = index_ages.ages(table)
        with op.batch_alter_table(table, schema=None) as batch_op:
            if table == "category_time_limit":
                batch_op.drop_constraint(
                    batch_op.f("uq_category_time_limit_town_id"), type_="unique"
                )
                batch_op.create_unique_constraint(
                    batch_op.f("uq_category_time_limit_category_id"), ["category_id", "step"]
                )
            batch_op.drop_constraint(batch_op.f(f"fk_{table}_town_id_town"), type_="foreignkey")
            batch_op.drop_column("town_id")
        index_ages.keep(table, ages)
