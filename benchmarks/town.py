"""What the benchmark scripts share: the demo town they seed around, the seeded database
`make bench` hands them, the raw-SQL yardstick, and this process's memory as Linux reports
it. Imported by its file name: the scripts run as files."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event, func, select

from server.db import db
from server.models import Case, Category, Village


def status_kb(field: str) -> int:
    """A line of /proc/self/status in kB, e.g. VmRSS (now) or VmHWM (the peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def demo_town() -> tuple[list[int], list[int]]:
    """Migrate the app's database and load the demo town; its village and category ids."""
    from flask_migrate import upgrade

    from server import demo

    upgrade()
    demo.seed()
    db.session.commit()
    return (
        db.session.scalars(select(Village.id)).all(),
        db.session.scalars(select(Category.id)).all(),
    )


@contextmanager
def seeded_app(database_url: str | None, cases: int, name: str):
    """An app context on a town of `cases` seeded cases: the database `database_url`
    names as it is (seeded before, e.g. by `make bench`: benchmarks/seed.py), or else a
    fresh SQLite file in a temporary folder, the demo town loaded and seeded here."""
    from seed import bulk_seed

    from server import create_app

    with tempfile.TemporaryDirectory() as folder:
        os.environ.setdefault("INSTANCE_PATH", folder)
        url = database_url or f"sqlite:///{Path(folder) / f'{name}.sqlite3'}"
        app = create_app({"DATABASE_URL": url})
        with app.app_context():
            if database_url is None:
                demo_town()
                summary = bulk_seed(cases)
                print(f"seeded {summary['cases']:,} cases in {summary['seconds']:.0f} s")
            total = db.session.scalar(select(func.count()).select_from(Case))
            print(f"database: {db.engine.dialect.name}, {total:,} cases", flush=True)
            db.session.rollback()
            yield app


def selects_of(function: Callable[[], object]) -> list[tuple[str, object]]:
    """The statements that read (with their parameters) which `function()` sends."""
    captured: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _executemany):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            captured.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        function()
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
        db.session.rollback()
    return captured


def raw_ms(selects: list[tuple[str, object]], runs: int = 5) -> float:
    """The yardstick: best of `runs`, in ms, to send `selects` straight through the
    DB-API cursor and fetch every row, which is the database's own time with nothing of
    the app's around it."""
    best = float("inf")
    connection = db.session.connection().connection.driver_connection
    for _ in range(runs):
        started = time.perf_counter()
        cursor = connection.cursor()
        for statement, parameters in selects:
            cursor.execute(statement, parameters)
            cursor.fetchall()
        cursor.close()
        best = min(best, time.perf_counter() - started)
    db.session.rollback()
    return best * 1000
