"""audit entries keep the town their actor acted for

A town's auditor read the entries of whoever is of their town now, so an account moved
to another town took its history there, and left its old town's auditor without it
(issue 21). Each entry now keeps its actor's town as it was then.

Entries written before stay without one: their hashes cover what they held, and they go
by their actor's town as before (server.trust.audit.readable_by).

Revision ID: a8d4c6e2f1b3
Revises: b5f2d8e3a1c9
Create Date: 2026-12-07 01:00:00.000000

"""
import logging

from alembic import op
import sqlalchemy as sa

from server.migrations import index_ages


# revision identifiers, used by Alembic.
revision = 'a8d4c6e2f1b3'
down_revision = 'b5f2d8e3a1c9'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("audit_entry", sa.Column("town_id", sa.Integer(), nullable=True))
    ages = index_ages.ages("audit_entry")
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_audit_entry_town_id_town"), "town", ["town_id"], ["id"]
        )
    index_ages.keep("audit_entry", ages)
    op.create_index("ix_audit_entry_town_id", "audit_entry", ["town_id", "id"])


def downgrade():
    # The town is covered by the hash of the entries that keep one: the version before
    # this one, which hashes no town, finds the chain broken at the first of them. Going
    # down is an operator's way back from a failed upgrade, so it is not refused; it says.
    first = op.get_bind().execute(
        sa.text("SELECT min(id) FROM audit_entry WHERE town_id IS NOT NULL")
    ).scalar()
    if first is not None:
        logging.getLogger("alembic.runtime.migration").warning(
            "audit entries from id %s kept their town in their hashes: the version before"
            " a8d4c6e2f1b3 finds the audit chain broken there (`grid-report audit verify`)",
            first,
        )
    op.drop_index("ix_audit_entry_town_id", table_name="audit_entry")
    ages = index_ages.ages("audit_entry")
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_constraint("fk_audit_entry_town_id_town", type_="foreignkey")
        batch_op.drop_column("town_id")
    index_ages.keep("audit_entry", ages)
