"""What the benchmark scripts share: the demo town they seed around, and this process's
memory as Linux reports it. Imported by its file name: the scripts run as files."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from server.db import db
from server.models import Category, Village


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
