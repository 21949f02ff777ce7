"""SQLite's index ages, kept across a migration that rebuilds a table.

SQLite, which keeps no statistics here, breaks a tie between two indexes that serve a
query alike by their age: it takes the youngest. The lists and the queue count on that (a
village's open cases from the partial index, not from all its cases; a department's open
cases from theirs; the held reports from theirs: tests/test_query_plans.py). Rebuilding a
table (Alembic's batch mode) makes its indexes again in an order of Python's hashing,
different from run to run, so a list's plan would change with the process that migrated
the database. A migration that rebuilds a table reads `ages(table)` first and calls
`keep(table, ages)` after: the indexes are made again in the order they had, new ones
last. Elsewhere (PostgreSQL) both do nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def ages(table: str) -> list[str]:
    """The table's indexes, oldest first (SQLite; [] elsewhere)."""
    if op.get_bind().dialect.name != "sqlite":
        return []
    rows = op.get_bind().execute(sa.text(f"PRAGMA index_list('{table}')")).all()
    # seq 0 is the youngest; "c": made by CREATE INDEX (not a UNIQUE's own).
    return [row[1] for row in sorted(rows, key=lambda row: -row[0]) if row[3] == "c"]


def keep(table: str, before: list[str]) -> None:
    """Make `table`'s indexes again in the order `before` had them, new ones last."""
    if not before:
        return
    rows = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :table"
                " AND sql IS NOT NULL"
            ),
            {"table": table},
        )
        .all()
    )
    sql = dict(rows)
    order = [name for name in before if name in sql] + sorted(set(sql) - set(before))
    for name in order:
        op.execute(f'DROP INDEX "{name}"')
    for name in order:
        op.execute(sql[name])
