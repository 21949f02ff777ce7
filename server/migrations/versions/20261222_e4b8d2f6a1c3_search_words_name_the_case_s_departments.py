"""a case's search words name the departments it was sent to ("_d7")

A handler may see the cases sent to their department and no other. Their search asked
the index for the word across the whole town, then kept the department's few: a word
common in one village that the department had no case of was looked for in every case
that holds it, window after window, over 15 s a query at ten million cases (issue 21).
A grid worker's search had the same fault once, and was mended by the village's term in
every case's words ("_v7"); a department's term does the same for the handler: the index
is asked for the word and the department at once. The term is added when a department
is first sent the case (server/cases/search.py, `add_departments`), and here for every
case sent before, in the order its departments were first sent it.

Revision ID: e4b8d2f6a1c3
Revises: d3a7f1c9e5b2
Create Date: 2026-12-07 11:20:00.000000

"""
import sqlalchemy as sa
from alembic import context, op


# revision identifiers, used by Alembic.
revision = 'e4b8d2f6a1c3'
down_revision = 'd3a7f1c9e5b2'
branch_labels = None
depends_on = None



def _batch() -> int:
    """Cases at a time: 5000, or `-x search_batch=N` (the tests cross a batch's edge)."""
    return int(context.get_x_argument(as_dictionary=True).get("search_batch", 5000))


SEARCH = sa.table("case_search", sa.column("case_id", sa.Integer), sa.column("body", sa.Text))
ASSIGNMENTS = sa.table(
    "case_assignment",
    sa.column("id", sa.Integer),
    sa.column("case_id", sa.Integer),
    sa.column("department_id", sa.Integer),
)
_SET = (
    sa.update(SEARCH)
    .where(SEARCH.c.case_id == sa.bindparam("id"))
    .values(body=sa.bindparam("new_body"))
)


def _rewrite(which, body_of) -> None:
    """Each batch of the cases `which(after)` selects, above case id `after`: their words
    made anew by `body_of(cases, connection)`, by case id (SQLite's triggers keep the FTS
    table in step)."""
    connection, batch = op.get_bind(), _batch()
    after = 0
    while True:
        cases = connection.execute(
            sa.select(SEARCH)
            .where(SEARCH.c.case_id > after, which(after))
            .order_by(SEARCH.c.case_id)
            .limit(batch)
        ).all()
        if not cases:
            return
        after = cases[-1].case_id
        bodies = body_of(cases, connection)
        connection.execute(
            _SET, [{"id": case.case_id, "new_body": bodies[case.case_id]} for case in cases]
        )


def upgrade():
    """Each case sent to departments: their terms after its words, in the order they were
    first sent it."""

    def sent_to(after):
        # Bounded too: PostgreSQL merges the two in case order, and would read the
        # assignments again from the first case for every batch.
        return sa.exists().where(
            ASSIGNMENTS.c.case_id == SEARCH.c.case_id, ASSIGNMENTS.c.case_id > after
        )

    def with_departments(cases, connection):
        sent: dict[int, list[int]] = {}
        for case_id, department_id in connection.execute(
            sa.select(ASSIGNMENTS.c.case_id, ASSIGNMENTS.c.department_id)
            .where(ASSIGNMENTS.c.case_id.between(cases[0].case_id, cases[-1].case_id))
            .order_by(ASSIGNMENTS.c.case_id, ASSIGNMENTS.c.id)
        ):
            departments = sent.setdefault(case_id, [])
            if department_id not in departments:
                departments.append(department_id)
        return {
            case.case_id: " ".join([case.body, *(f"_d{d}" for d in sent[case.case_id])])
            for case in cases
        }

    _rewrite(sent_to, with_departments)


def downgrade():
    """The departments' terms taken out of every case's words."""
    _rewrite(
        lambda _after: SEARCH.c.body.like("% \\_d%", escape="\\"),
        lambda cases, _connection: {
            case.case_id: " ".join(t for t in case.body.split(" ") if not t.startswith("_d"))
            for case in cases
        },
    )
