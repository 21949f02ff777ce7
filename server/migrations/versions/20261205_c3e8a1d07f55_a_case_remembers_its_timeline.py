"""a case remembers its timeline: the facts of a new event need no query

`case_file.last_events` (JSON) keeps, for each case, when it last had each action, each
action with its result ("resolve=mediated") and any counted action ("*counted"), as the
workflow now writes it with every event (server/cases/workflow/events.py). Filled here from
the events already written, so that the next event of an old case carries the same
facts a query over its events gave.

Revision ID: c3e8a1d07f55
Revises: b7c41f2a9d3e
Create Date: 2026-12-05 22:00:00.000000

"""
from collections import defaultdict
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = 'c3e8a1d07f55'
down_revision = 'b7c41f2a9d3e'
branch_labels = None
depends_on = None

# The actions a case counts by when this was written (server/cases/workflow/table.py).
COUNTED = ("accept", "resolve", "close")
BATCH = 5000


def _iso(moment):
    if isinstance(moment, str):  # SQLite, read without the model's type
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat()


def upgrade():
    with op.batch_alter_table("case_file", schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            "last_events",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=True,
        ))

    events = sa.table(
        "case_event",
        sa.column("case_id", sa.Integer),
        sa.column("action", sa.String),
        sa.column("result", sa.String),
        sa.column("at", sa.DateTime(timezone=True)),
    )
    cases = sa.table(
        "case_file",
        sa.column("id", sa.Integer),
        sa.column("last_events", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(events.c.case_id, events.c.action, events.c.result, sa.func.max(events.c.at))
        .group_by(events.c.case_id, events.c.action, events.c.result)
        .order_by(events.c.case_id)
    )
    marks, latest = defaultdict(dict), {}

    def keep(case_id, key, moment):
        held = marks[case_id].get(key)
        if held is None or latest[case_id, key] < moment:
            marks[case_id][key] = _iso(moment)
            latest[case_id, key] = moment

    def flush():
        if marks:
            connection.execute(
                sa.update(cases)
                .where(cases.c.id == sa.bindparam("case_id"))
                .values(last_events=sa.bindparam("marks")),
                [{"case_id": k, "marks": v} for k, v in marks.items()],
            )
        marks.clear()
        latest.clear()

    current = None
    for case_id, action, result, moment in rows:
        if case_id != current and len(marks) >= BATCH:
            flush()
        current = case_id
        keep(case_id, action, moment)
        if result is not None:
            keep(case_id, f"{action}={result}", moment)
        if action in COUNTED:
            keep(case_id, "*counted", moment)
    flush()


def downgrade():
    with op.batch_alter_table("case_file", schema=None) as batch_op:
        batch_op.drop_column("last_events")
