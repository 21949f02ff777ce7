"""The Flask-SQLAlchemy extension, created unbound here and bound to the app by
`create_app`; import it as `from server.db import db`. Also what Flask-Migrate finds in the
app (`Migrations`), without loading it until a migration runs."""

from __future__ import annotations

from functools import cached_property

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData

# Stable constraint names, so Alembic migrations name them the same on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))


class Migrations:
    """Flask-Migrate's entry in `app.extensions["migrate"]` (what its `upgrade()` and our
    migrations/env.py read), holding the same attributes as the one `Migrate.init_app`
    makes, but importing flask_migrate, and Alembic and Mako under it (11 MiB, 50 ms),
    only when a migration first runs: a serving worker never does."""

    def __init__(self, db: SQLAlchemy, directory: str, **options) -> None:
        self.db = db
        self.directory = directory
        self.configure_args = {"compare_type": True, **options}

    @property
    def metadata(self) -> MetaData:
        return self.db.metadata

    @cached_property
    def migrate(self):
        """Flask-Migrate's own object, which makes Alembic's configuration."""
        from flask_migrate import Migrate  # here: loads Alembic (see the class's note)

        return Migrate(db=self.db, directory=self.directory, **self.configure_args)
