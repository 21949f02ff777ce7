"""The schema's Alembic revisions as a backup sees them: which one a database is at,
which one the code's head is, and whether the code knows a revision at all (an archive
of a newer release names one it does not)."""

from __future__ import annotations

from pathlib import Path

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def _scripts() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS))


def head() -> str:
    """The newest revision this code knows."""
    return _scripts().get_current_head()


def first() -> str:
    """The first release's revision (the one with no predecessor)."""
    (base,) = _scripts().get_bases()
    return base


def known(revision: str | None) -> bool:
    """Whether this code can migrate from `revision` (None: an empty schema)."""
    if revision is None:
        return True
    try:
        return _scripts().get_revision(revision) is not None
    except CommandError:  # alembic's ResolutionError is one
        return False


def current(engine) -> str | None:
    """The revision the database behind `engine` is at (None: never migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def down_revision(revision: str) -> str | None:
    """The revision before `revision`."""
    return _scripts().get_revision(revision).down_revision
