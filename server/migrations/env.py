"""Alembic environment: migrate the app's own engine (with its SQLite settings)."""

from alembic import context
from flask import current_app

import server.models  # noqa: F401 - registers every table on the metadata
from server.models.base import UTCDateTime
from server.models.search import include_name

db = current_app.extensions["migrate"].db


def render_item(type_, obj, autogen_context):
    """Write our UTC column type as the plain type it stores, so migrations import nothing."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_offline() -> None:
    """Emit SQL for the configured URL without connecting (`db upgrade --sql`)."""
    context.configure(
        url=db.engine.url.render_as_string(hide_password=False),
        target_metadata=db.metadata,
        literal_binds=True,
        render_as_batch=True,
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate through a connection of the app's engine, in one transaction."""
    connectable = context.config.attributes.get("connection") or db.engine
    if hasattr(connectable, "connect") and not hasattr(connectable, "execute"):
        with connectable.connect() as connection:
            _run(connection)
    else:
        _run(connectable)


def _run(connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch migrations copy and drop tables; with foreign keys enforced, dropping a
        # referenced table fails. The pragma only works outside a transaction, so it is
        # set on the driver's connection before Alembic begins; checked again after.
        connection.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")
    context.configure(
        connection=connection,
        target_metadata=db.metadata,
        # SQLite cannot ALTER most things: batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()
    if sqlite:
        driver = connection.connection.driver_connection
        broken = driver.execute("PRAGMA foreign_key_check").fetchall()
        driver.execute("PRAGMA foreign_keys = ON")
        if broken:
            raise RuntimeError(f"migration left broken foreign keys: {broken[:5]}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
