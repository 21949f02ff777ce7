"""The scratch database of `make bench`, made empty and dropped afterwards.

    .venv/bin/python benchmarks/scratch.py create [SERVER_URL] FOLDER   # prints its URL
    .venv/bin/python benchmarks/scratch.py drop URL

Without SERVER_URL (or with an empty one) it is a SQLite file in FOLDER, which goes with
the folder; with a PostgreSQL URL, a database of its own on that server (a random name),
dropped by `drop` whoever is still connected.
"""

from __future__ import annotations

import argparse
import secrets
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url


def create(server_url: str, folder: Path) -> str:
    """A new empty database; its URL."""
    if not server_url or make_url(server_url).get_backend_name() == "sqlite":
        return f"sqlite:///{folder.resolve() / 'bench.sqlite3'}"
    url = make_url(server_url)
    name = f"grid_report_bench_{secrets.token_hex(4)}"
    server = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    server.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop(database_url: str) -> None:
    """Drop a database `create` made (a SQLite file goes with its folder)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" or not (url.database or "").startswith(
        "grid_report_bench_"
    ):
        return
    server = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
    server.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("create")
    made.add_argument("server_url", nargs="?", default="")
    made.add_argument("folder", type=Path)
    dropped = commands.add_parser("drop")
    dropped.add_argument("url")
    args = parser.parse_args()
    if args.command == "create":
        print(create(args.server_url, args.folder))
    else:
        drop(args.url)


if __name__ == "__main__":
    main()
