"""SQLite's index ages, kept across a migration that rebuilds a table.

SQLite, which keeps no statistics here, breaks a tie between two indexes that serve a
query alike by their age: it takes the youngest. The lists and the queue count on that (a
village's open cases from the partial index, not from all its cases; a department's open
cases from theirs; the held reports from theirs: tests/test_query_plans.py). Rebuilding a
table (Alembic's batch mode) makes its indexes again in an order of Python's hashing,
different from run to run, so a list's plan would change with the process that migrated
the database. A migration that rebuilds a table reads `ages(table)` first and calls
`keep(table, ages)` after: the indexes are made again in the order they had, new ones
last. A migration that adds an index which could tie with older ones calls `place` to
make it younger than the one it belongs beside, not than all. Elsewhere (PostgreSQL)
these do nothing.
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
    sql = _definitions(table)
    order = [name for name in before if name in sql] + sorted(set(sql) - set(before))
    _remake(sql, order)


def place(table: str, name: str, after: str) -> None:
    """Make the new index `name` younger than `after` only: the indexes made after `after`
    are made again, in their order, so that every tie among the others is broken as
    before and `name` wins none it did not win on its merits (SQLite; elsewhere nothing)."""
    order = ages(table)
    if not order:  # not SQLite
        return
    if after not in order:
        # Left youngest, the new index would quietly win every tie it takes part in.
        raise RuntimeError(f"{table} has no index {after} to place {name} after")
    younger = [index for index in order[order.index(after) + 1 :] if index != name]
    _remake(_definitions(table), younger)


def _definitions(table: str) -> dict[str, str]:
    """The CREATE INDEX statement of each of `table`'s indexes, by name."""
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
    return dict(rows)


def _remake(sql: dict[str, str], order: list[str]) -> None:
    for name in order:
        op.execute(f'DROP INDEX "{name}"')
    for name in order:
        op.execute(sql[name])
