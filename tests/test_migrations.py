"""The migrations build exactly the schema the models describe, and can be undone."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import CheckConstraint, inspect

from server.extensions import db


def test_models_and_migrations_agree(session):
    context = MigrationContext.configure(session.connection(), opts={"compare_type": True})
    assert compare_metadata(context, db.metadata) == []


def test_check_constraints_match_the_models(session):
    """compare_metadata ignores CHECK constraints: compare their names table by table."""
    inspector = inspect(session.connection())
    for table in db.metadata.sorted_tables:
        in_database = {c["name"] for c in inspector.get_check_constraints(table.name)}
        in_models = {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
        for column in table.columns:  # enum columns carry their own named check
            if getattr(column.type, "create_constraint", False):
                in_models.add(f"ck_{table.name}_{column.type.name}")
        assert in_database == in_models, table.name
    assert "ck_case_file_dispatched_has_department" in {
        c["name"] for c in inspector.get_check_constraints("case_file")}


def test_downgrade_to_empty_and_back(fresh_app):
    with fresh_app.app_context():
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert "case_file" in inspect(db.engine).get_table_names()


def test_the_database_refuses_a_dispatched_case_without_department(world, session):
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from tests.helpers import case_in

    case = case_in("accepted", world)
    for statement in (
        "UPDATE case_file SET status = 'dispatched' WHERE id = :id",
        "UPDATE case_file SET status = 'closed' WHERE id = :id",
        "UPDATE case_file SET status = 'done' WHERE id = :id",
    ):
        savepoint = session.begin_nested()
        with pytest.raises(IntegrityError):
            session.execute(text(statement), {"id": case.id})
        savepoint.rollback()
