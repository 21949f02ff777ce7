"""audit entries keep the town their actor acted for

A town's auditor read the entries of whoever is of their town now, so an account moved
to another town took its history there, and left its old town's auditor without it
(issue 21). Each entry now keeps its actor's town as it was then (`town_id`, none for
the district's people and the system's jobs), and says that it does (`town_kept`),
both covered by its hash.

Entries written before (`town_kept` false) are given their actor's town as it is now,
which is all that is known of them; their hashes do not cover it, as they did not cover
the actor's town it replaces (server.trust.audit.readable_by).

Going down is the way back from a failed upgrade, so it is not refused, but the version
before hashes no town and would find the chain broken at the first entry that kept one.
The kept towns are set aside in `audit_entry_town_kept`, with each entry's hash, and the
next upgrade puts each back on the entry of that id and hash (an id used again by then,
after a purge, is another entry); going down past the audit chain drops them.

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

ASIDE = "audit_entry_town_kept"


def upgrade():
    op.add_column("audit_entry", sa.Column("town_id", sa.Integer(), nullable=True))
    op.add_column(
        "audit_entry",
        sa.Column("town_kept", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    ages = index_ages.ages("audit_entry")
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_audit_entry_town_id_town"), "town", ["town_id"], ["id"]
        )
    index_ages.keep("audit_entry", ages)
    entry = sa.table(
        "audit_entry",
        sa.column("id", sa.Integer()),
        sa.column("hash", sa.String()),
        sa.column("actor_id", sa.Integer()),
        sa.column("town_id", sa.Integer()),
        sa.column("town_kept", sa.Boolean()),
    )
    if ASIDE in sa.inspect(op.get_bind()).get_table_names():
        # Back up again after a way down: the towns the entries kept, as their hashes say.
        aside = sa.table(
            ASIDE,
            sa.column("id", sa.Integer()),
            sa.column("hash", sa.String()),
            sa.column("town_id", sa.Integer()),
        )
        same = sa.and_(aside.c.id == entry.c.id, aside.c.hash == entry.c.hash)
        op.execute(
            entry.update()
            .where(sa.exists().where(same))
            .values(
                town_kept=sa.true(),
                town_id=sa.select(aside.c.town_id).where(same).scalar_subquery(),
            )
        )
        op.drop_table(ASIDE)
    # The entries before: their actor's town as it is now.
    user = sa.table("user_account", sa.column("id", sa.Integer()), sa.column("town_id", sa.Integer()))
    op.execute(
        entry.update()
        .where(entry.c.town_kept.is_(sa.false()), entry.c.actor_id.is_not(None))
        .values(
            town_id=sa.select(user.c.town_id).where(user.c.id == entry.c.actor_id).scalar_subquery()
        )
    )


def downgrade():
    kept = op.get_bind().execute(
        sa.text("SELECT min(id) FROM audit_entry WHERE town_kept")
    ).scalar()
    if kept is not None:
        op.execute(f"DROP TABLE IF EXISTS {ASIDE}")
        op.create_table(
            ASIDE,
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("hash", sa.String(64), nullable=True),
            sa.Column("town_id", sa.Integer(), nullable=True),
        )
        op.execute(
            f"INSERT INTO {ASIDE} (id, hash, town_id)"
            " SELECT id, hash, town_id FROM audit_entry WHERE town_kept"
        )
        logging.getLogger("alembic.runtime.migration").warning(
            "audit entries from id %s kept their town in their hashes: until upgraded past"
            " a8d4c6e2f1b3 again (which puts back the towns set aside in %s), the version"
            " before finds the audit chain broken there (`grid-report audit verify`)",
            kept,
            ASIDE,
        )
    ages = index_ages.ages("audit_entry")
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_constraint("fk_audit_entry_town_id_town", type_="foreignkey")
        batch_op.drop_column("town_kept")
        batch_op.drop_column("town_id")
    index_ages.keep("audit_entry", ages)
