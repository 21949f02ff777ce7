"""The database's part of a backup: a consistent snapshot while the app writes, and its
load into an empty database, in each engine's own way.

SQLite: the online backup API (`sqlite3.Connection.backup`) copies every page in one
step, inside one read transaction: WAL lets the app's writers go on meanwhile, and the
copy is the database as it was when that transaction began. PostgreSQL: `pg_dump
--format=custom` of a snapshot exported by a REPEATABLE READ transaction of our own,
which also lists the photos that snapshot refers to, so the archive can be checked to
hold them. Connection settings go to pg_dump and pg_restore in libpq's environment
variables (PGPASSWORD among them), never in argv, where `ps` would show a password.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import URL, make_url

# Read by name, not through the models, so that a snapshot of any revision reads.
_PHOTO_KEYS = "SELECT storage_key, thumbnail_key FROM photo"
_REVISION = "SELECT version_num FROM alembic_version"


@dataclass(frozen=True)
class Snapshot:
    """What a snapshot holds: when it was taken (what was committed before is in it),
    the schema's revision, and the keys of the photos its rows refer to."""

    taken_at: datetime
    revision: str | None
    photo_keys: frozenset[str]


class DatabaseError(Exception):
    """A database tool failed; the message says which and why (no password in it)."""


def kind(url: str | URL) -> str:
    """'sqlite' or 'postgresql': the kinds a backup knows."""
    name = make_url(url).get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise DatabaseError(f"不支持备份这种数据库：{name}")
    return name


def dump_name(database_kind: str) -> str:
    """The database's member name in an archive."""
    return "database.sqlite3" if database_kind == "sqlite" else "database.pgdump"


def sqlite_path(url: str | URL) -> Path:
    """The file an SQLite URL names."""
    database = make_url(url).database
    if not database or database == ":memory:":
        raise DatabaseError("内存中的 SQLite 数据库不能备份。")
    return Path(database)


def libpq_env(url: str | URL) -> dict[str, str]:
    """libpq's environment variables for a SQLAlchemy PostgreSQL URL."""
    url = make_url(url)
    env = {"PGDATABASE": url.database or "postgres"}
    for variable, value in (
        ("PGHOST", url.host),
        ("PGPORT", url.port),
        ("PGUSER", url.username),
        ("PGPASSWORD", url.password),
    ):
        if value is not None:
            env[variable] = str(value)
    # A socket directory or TLS settings given as query arguments (?host=/run/postgresql).
    for argument, variable in (
        ("host", "PGHOST"),
        ("port", "PGPORT"),
        ("sslmode", "PGSSLMODE"),
        ("sslrootcert", "PGSSLROOTCERT"),
        ("sslcert", "PGSSLCERT"),
        ("sslkey", "PGSSLKEY"),
    ):
        if argument in url.query:
            env[variable] = str(url.query[argument])
    return env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise DatabaseError(
            f"找不到 {name}：请安装 PostgreSQL 客户端（apt-get install postgresql-client）。"
        )
    return found


def _run(arguments: list[str], url: str | URL) -> None:
    done = subprocess.run(  # noqa: S603 - pg_dump/pg_restore found on PATH, our own arguments
        arguments,
        env=os.environ | libpq_env(url),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise DatabaseError(f"{Path(arguments[0]).name} 失败：{done.stderr.strip()[-2000:]}")


def snapshot(url: str | URL, target: Path) -> Snapshot:
    """Write a consistent copy of the database at `url` to `target`."""
    if kind(url) == "sqlite":
        return _snapshot_sqlite(sqlite_path(url), target)
    return _snapshot_postgresql(url, target)


def _snapshot_sqlite(source_path: Path, target: Path) -> Snapshot:
    if not source_path.exists():
        raise DatabaseError(f"数据库文件不存在：{source_path}")
    source = sqlite3.connect(source_path, timeout=30)
    copy = sqlite3.connect(target)
    try:
        taken_at = datetime.now(UTC)
        source.backup(copy)  # all pages in one step: one read transaction, one moment
        # One self-contained file: no -wal beside it to forget.
        copy.execute("PRAGMA journal_mode = DELETE")
        if copy.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise DatabaseError("数据库副本未通过完整性检查（PRAGMA quick_check）。")
        return Snapshot(
            taken_at,
            _revision(copy.execute(_REVISION).fetchall()),
            _photo_keys(copy.execute(_PHOTO_KEYS).fetchall()),
        )
    finally:
        copy.close()
        source.close()


def _snapshot_postgresql(url: str | URL, target: Path) -> Snapshot:
    engine = create_engine(url, isolation_level="REPEATABLE READ")
    try:
        with engine.connect() as connection:
            connection.execute(text("SET TRANSACTION READ ONLY"))
            taken_at = datetime.now(UTC)
            # The transaction's snapshot, shared with pg_dump: the photo keys read here
            # and the rows it dumps are the same moment's. It lives until we commit.
            exported = connection.execute(text("SELECT pg_export_snapshot()")).scalar()
            taken = Snapshot(
                taken_at,
                _revision(connection.execute(text(_REVISION)).all()),
                _photo_keys(connection.execute(text(_PHOTO_KEYS)).all()),
            )
            _run(
                [
                    _tool("pg_dump"),
                    "--format=custom",
                    f"--snapshot={exported}",
                    f"--file={target}",
                ],
                url,
            )
            connection.rollback()
    finally:
        engine.dispose()
    return taken


def _photo_keys(rows) -> frozenset[str]:
    return frozenset(key for row in rows for key in row if key)


def _revision(rows) -> str | None:
    if len(rows) > 1:  # branches merged into one head are all this app ever has
        raise DatabaseError("数据库有多个迁移版本（alembic_version），无法备份。")
    return rows[0][0] if rows else None


# Tables whose rows a migration makes and that hold no town's data: when the machine's
# jobs last ran (job_run: its rows come with the migration, so that runs only update them).
BOOKKEEPING = frozenset({"job_run"})


# What a migrated instance holds beside the models' tables: Alembic's revision and the
# search's SQLite full-text index (a virtual table and its shadow tables).
_MIGRATIONS_OWN = ("alembic_version", "case_search_fts")


def foreign_tables(url: str | URL, metadata) -> list[str]:
    """Tables in the database at `url` that are not grid-report's: a restore replaces the
    whole database, so one that holds anything else (another system's tables, a shared
    database named by mistake) is refused rather than overwritten."""
    ours = {table.name for table in metadata.sorted_tables}
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            present = inspect(connection).get_table_names()
    finally:
        engine.dispose()
    return sorted(t for t in present if t not in ours and not t.startswith(_MIGRATIONS_OWN))


def nonempty_tables(url: str | URL, metadata) -> list[str]:
    """The app's tables in the database at `url` that hold a row (none: it is empty).
    Only the models' tables are asked: SQLite's full-text index keeps rows of its own
    in an empty database; the machine's bookkeeping (BOOKKEEPING) is no town's data."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            present = set(inspect(connection).get_table_names())
            return [
                table.name
                for table in metadata.sorted_tables
                if table.name in present
                and table.name not in BOOKKEEPING
                and connection.execute(select(text("1")).select_from(table).limit(1)).first()
            ]
    finally:
        engine.dispose()


def load(url: str | URL, dump: Path) -> None:
    """Put the snapshot `dump` into the (empty) database at `url`, all or nothing."""
    if kind(url) == "sqlite":
        _load_sqlite(sqlite_path(url), dump)
    else:
        _load_postgresql(url, dump)


def _load_sqlite(target_path: Path, dump: Path) -> None:
    target_path.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(dump)
    target = sqlite3.connect(target_path, timeout=30)
    try:
        # One step under the target's write lock: it is replaced whole, or not at all.
        source.backup(target)
    finally:
        target.close()
        source.close()


def _load_postgresql(url: str | URL, dump: Path) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            # An instance made and migrated but never used has empty tables (checked by
            # the caller): they go, so that the dump's own schema, of its revision, is
            # what the migrations then carry to head.
            tables = inspect(connection).get_table_names()
            if tables:
                quoted = ", ".join(connection.dialect.identifier_preparer.quote(t) for t in tables)
                connection.execute(text(f"DROP TABLE {quoted} CASCADE"))
    finally:
        engine.dispose()
    _run(
        [
            _tool("pg_restore"),
            "--no-owner",
            "--no-acl",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={make_url(url).database}",
            str(dump),
        ],
        url,
    )
