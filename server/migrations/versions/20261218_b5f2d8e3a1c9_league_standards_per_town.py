"""league standards set at the district, and a town's own set where it judges otherwise

The monthly league tables' standards (weights, pass marks, smallest samples) were one
set for the deployment: a town's admin who changed them changed how every town judged
its units (issue 21). A row now belongs to a town, or to none, the district's. The rows
there were become the district's.

The table is made again (a few rows: one a measure), since its key was the measure
alone and a town's row needs its own key.

Revision ID: b5f2d8e3a1c9
Revises: e7b1d4c8a2f6
Create Date: 2026-12-06 22:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b5f2d8e3a1c9'
down_revision = 'e7b1d4c8a2f6'
branch_labels = None
depends_on = None

DISTRICT_ROW = "town_id IS NULL"
COLUMNS = {
    "measure": sa.String(),
    "weight": sa.Integer(),
    "pass_mark": sa.Float(),
    "min_sample": sa.Integer(),
    "updated_at": sa.DateTime(timezone=True),
    "updated_by_id": sa.Integer(),
}


def _rows() -> list[dict]:
    table = sa.table("league_standard", *(sa.column(c, t) for c, t in COLUMNS.items()))
    return [dict(row._mapping) for row in op.get_bind().execute(sa.select(table))]


def _values():
    return [
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("pass_mark", sa.Float(), nullable=False),
        sa.Column("min_sample", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["user_account.id"],
            name=op.f("fk_league_standard_updated_by_id_user_account"),
        ),
    ]


def upgrade():
    rows = _rows()
    op.drop_table("league_standard")
    table = op.create_table(
        "league_standard",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("town_id", sa.Integer(), nullable=True),
        sa.Column("measure", sa.String(length=16), nullable=False),
        *_values(),
        sa.ForeignKeyConstraint(
            ["town_id"], ["town.id"], name=op.f("fk_league_standard_town_id_town"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_league_standard")),
        sa.UniqueConstraint("town_id", "measure", name=op.f("uq_league_standard_town_id")),
    )
    op.create_index(
        "uq_league_standard_district_measure",
        "league_standard",
        ["measure"],
        unique=True,
        sqlite_where=sa.text(DISTRICT_ROW),
        postgresql_where=sa.text(DISTRICT_ROW),
    )
    if rows:
        op.bulk_insert(table, [row | {"town_id": None} for row in rows])


def downgrade():
    # The schema before this one holds one set for the deployment: a town's own set
    # would become everyone's, so it is refused in words rather than merged.
    own = op.get_bind().execute(
        sa.text("SELECT count(*) FROM league_standard WHERE town_id IS NOT NULL")
    ).scalar()
    if own:
        raise RuntimeError(
            "cannot downgrade past b5f2d8e3a1c9: towns have league standards of their own;"
            " set them back to the district's first"
        )
    rows = _rows()
    op.drop_index("uq_league_standard_district_measure", table_name="league_standard")
    op.drop_table("league_standard")
    table = op.create_table(
        "league_standard",
        sa.Column("measure", sa.String(length=16), nullable=False),
        *_values(),
        sa.PrimaryKeyConstraint("measure", name=op.f("pk_league_standard")),
    )
    if rows:
        op.bulk_insert(table, rows)
