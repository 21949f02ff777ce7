"""numbers per town: each town counts its papers and its archive from 1 each year

A district's towns shared one counter per kind of paper and year (文号, 卷号), so one
town's numbers ran on from another's, and every town's papers carried the first town's
character (issue 21). The counters, the papers and the archive entries now belong to a
town: each paper and entry its case's town, and each town's counter of a kind and year
starts from the highest number its own papers already carry (papers are never deleted,
so no number of a town is given twice). A town may name the character its numbers carry
(文号简称, in the town file).

Revision ID: e7b1d4c8a2f6
Revises: c4e8a2b6d9f3
Create Date: 2026-12-06 19:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

from server.migrations import index_ages


# revision identifiers, used by Alembic.
revision = 'e7b1d4c8a2f6'
down_revision = 'c4e8a2b6d9f3'
branch_labels = None
depends_on = None

FILL = {
    # Filled for the constraint; counted again per town below.
    "number_counter": "UPDATE number_counter SET town_id = (SELECT min(id) FROM town)",
    "case_document": "UPDATE case_document SET town_id ="
    " (SELECT town_id FROM case_file WHERE case_file.id = case_document.case_id)",
    "case_archive": "UPDATE case_archive SET town_id ="
    " (SELECT town_id FROM case_file WHERE case_file.id = case_archive.case_id)",
}
NUMBERS = {
    "case_document": ("uq_case_document_number", ["kind", "year", "serial"]),
    "case_archive": ("uq_case_archive_number", ["year", "serial"]),
}


def upgrade():
    for table, fill in FILL.items():
        op.add_column(table, sa.Column("town_id", sa.Integer(), nullable=True))
        op.execute(fill)
        if table == "number_counter":
            # Counters with no town at all: a database with no town has no papers.
            op.execute("DELETE FROM number_counter WHERE town_id IS NULL")
        ages = index_ages.ages(table)
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("town_id", existing_type=sa.Integer(), nullable=False)
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_town_id_town"), "town", ["town_id"], ["id"]
            )
            if table == "number_counter":
                batch_op.drop_constraint("pk_number_counter", type_="primary")
                batch_op.create_primary_key("pk_number_counter", ["town_id", "year", "kind"])
            else:
                name, columns = NUMBERS[table]
                batch_op.drop_constraint(name, type_="unique")
                batch_op.create_unique_constraint(name, ["town_id", *columns])
        index_ages.keep(table, ages)
    # Each town's counters from its own papers: the shared sequence gave one town 1 and 3
    # and another 2, so the second must go on from 2, not from 3 nor from 1.
    op.execute("DELETE FROM number_counter")
    op.execute(
        "INSERT INTO number_counter (town_id, year, kind, last)"
        " SELECT town_id, year, kind, max(serial) FROM case_document"
        " GROUP BY town_id, year, kind"
    )
    op.execute(
        "INSERT INTO number_counter (town_id, year, kind, last)"
        " SELECT town_id, year, 'archive', max(serial) FROM case_archive GROUP BY town_id, year"
    )
    op.add_column("town", sa.Column("document_prefix", sa.String(length=4), nullable=True))


def downgrade():
    # The schema before this one numbers the deployment's papers in one sequence: two
    # towns' numbers would clash, so they are refused in words rather than renumbered.
    towns = op.get_bind().execute(
        sa.text("SELECT count(DISTINCT town_id) FROM number_counter")
    ).scalar()
    if towns and towns > 1:
        raise RuntimeError(
            "cannot downgrade past e7b1d4c8a2f6: several towns have numbered their papers"
        )
    op.drop_column("town", "document_prefix")
    for table in reversed(list(FILL)):
        ages = index_ages.ages(table)
        with op.batch_alter_table(table, schema=None) as batch_op:
            if table == "number_counter":
                batch_op.drop_constraint("pk_number_counter", type_="primary")
                batch_op.create_primary_key("pk_number_counter", ["year", "kind"])
            else:
                name, columns = NUMBERS[table]
                batch_op.drop_constraint(name, type_="unique")
                batch_op.create_unique_constraint(name, columns)
            batch_op.drop_constraint(batch_op.f(f"fk_{table}_town_id_town"), type_="foreignkey")
            batch_op.drop_column("town_id")
        index_ages.keep(table, ages)
