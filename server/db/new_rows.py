"""New rows written with one INSERT each (a report's parties together), outside
SQLAlchemy's unit of work.

A new report's rows (its case, first event and parties) are known whole before anything
is written. `apply_defaults` gives a row built in memory every value its INSERT will
write, and `insert` writes it with one statement and sets its id: no flush, no savepoint,
and nothing to load back (server/cases/operations.py files reports this way).

Why it stays (issue 16, measured 2026-12-05 on this 2-core machine): the unit-of-work
flush of the same rows costs 1.43 ms of CPU per report against 0.47 ms here
(benchmarks/bench_new_rows.py, 3 rounds of 400), and the report create is CPU-bound: with
the flush, bench_reports.py gave 256-268 req/s, 0.40-0.42x the minimal endpoint (three
runs), below the budget of 0.5x; with these INSERTs 327-336 req/s, 0.51-0.53x.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlalchemy import insert as sa_insert
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import MANYTOONE
from sqlalchemy.orm.attributes import set_committed_value


def insert(connection, row, *, unless_conflict: bool = False) -> bool:
    """INSERT a new model instance with one statement, and set its id on it.

    Every other column is on the row already, or given now by `apply_defaults` (so
    nothing is left to load back). With `unless_conflict`, a row that would break a
    unique constraint is not written and False is returned: no savepoint is needed, and
    the transaction stays usable on PostgreSQL.
    """
    mapper = sa_inspect(row).mapper
    plan = _insert_plan(mapper)
    apply_defaults(row)  # again: a foreign key of a row written since (an event's case)
    state = row.__dict__
    values = {
        column_key: state[prop_key]
        for prop_key, column_key, _kind, _default in plan.columns
        if prop_key in state
    }
    statement = _insert_statement(
        connection.dialect.name, mapper.local_table, plan.primary_key, unless_conflict
    )
    new_id = connection.execute(statement, values).scalar()
    if new_id is None:
        return False
    set_committed_value(row, plan.id_key, new_id)
    return True


def insert_all(connection, rows: list) -> None:
    """INSERT new instances of one model together (a report's parties), and set their ids
    on them. SQLAlchemy sends them as one statement on PostgreSQL, whose ids it matches to
    the rows in order; on SQLite, which gives it no such order, one a row."""
    if len(rows) < 2:
        for row in rows:
            insert(connection, row)
        return
    mapper = sa_inspect(rows[0]).mapper
    plan = _insert_plan(mapper)
    values = []
    for row in rows:
        apply_defaults(row)
        state = row.__dict__
        values.append(
            {
                column_key: state[prop_key]
                for prop_key, column_key, kind, _default in plan.columns
                if kind != "primary_key"
            }
        )
    statement = _insert_many_statement(mapper.local_table, plan.primary_key)
    for row, new_id in zip(rows, connection.execute(statement, values).scalars(), strict=True):
        set_committed_value(row, plan.id_key, new_id)


def apply_defaults(row) -> None:
    """Give a new row every value but its id, as its INSERT will write it: column
    defaults, the version counter, None, and the foreign keys of its many-to-one
    relationships whose objects have ids. Done while building the row, so that it can be
    shown before it is written and `insert`, under the write lock, sets little."""
    plan = _insert_plan(sa_inspect(row).mapper)
    state = row.__dict__
    for prop_key, _column_key, kind, default in plan.columns:
        if prop_key in state or kind == "primary_key":
            continue
        if kind == "version":
            value = 1
        elif kind == "scalar":
            value = default
        elif kind == "callable":
            value = default(None)
        else:
            value = None
        set_committed_value(row, prop_key, value)
    for relation_key, pairs in plan.relations:
        target = state.get(relation_key)
        if target is None:
            continue
        for local_key, remote_key in pairs:
            value = getattr(target, remote_key)
            if value is not None and state.get(local_key) != value:
                set_committed_value(row, local_key, value)


@dataclass(frozen=True)
class _InsertPlan:
    # (attribute, column, how a missing value is found, the column default)
    columns: list[tuple[str, str, str, object]]
    # (relationship, [(local foreign key attribute, the target's attribute)])
    relations: list[tuple[str, list[tuple[str, str]]]]
    primary_key: object
    id_key: str


@functools.cache
def _insert_plan(mapper) -> _InsertPlan:
    """What `insert` needs to know of a model, worked out once."""
    columns = []
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        if column.primary_key:
            kind, default = "primary_key", None
        elif column is mapper.version_id_col:
            kind, default = "version", None
        elif column.default is None:
            kind, default = "none", None
        elif column.default.is_scalar:
            kind, default = "scalar", column.default.arg
        else:
            kind, default = "callable", column.default.arg
        columns.append((prop.key, column.key, kind, default))
    relations = [
        (
            relation.key,
            [
                (
                    mapper.get_property_by_column(local).key,
                    relation.mapper.get_property_by_column(remote).key,
                )
                for local, remote in relation.local_remote_pairs
            ],
        )
        for relation in mapper.relationships
        if relation.direction is MANYTOONE
    ]
    (primary_key,) = mapper.primary_key
    return _InsertPlan(
        columns, relations, primary_key, mapper.get_property_by_column(primary_key).key
    )


@functools.cache
def _insert_statement(dialect: str, table, primary_key, unless_conflict: bool):
    """INSERT ... [ON CONFLICT DO NOTHING] RETURNING id, built once per table."""
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    if unless_conflict:
        statement = statement.on_conflict_do_nothing()
    return statement.returning(primary_key)


@functools.cache
def _insert_many_statement(table, primary_key):
    """INSERT ... VALUES (...), (...) RETURNING id, the ids in the rows' order."""
    return sa_insert(table).returning(primary_key, sort_by_parameter_order=True)
