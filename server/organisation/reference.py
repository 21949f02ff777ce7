"""Reference data a report reads, kept per process for a few seconds.

Filing a report reads its category (with the time limits), village, its town and grid,
and the calendar's corrections: seven queries and their ORM objects, for data that
changes a few times a year. Here they are loaded together once per
REFERENCE_CACHE_SECONDS (default 10; 0 turns the cache off) and handed to each request's
session with merge(load=False): no query. An object the session already holds is used as
it is, since it may carry changes of its own. A code or id not in the copy is read from
the database.

An admin's edit (`server.organisation.management`, `places`, `town_file`, `qr`) calls
`forget`, so this process sees it at once; other processes (gunicorn workers) see it
within REFERENCE_CACHE_SECONDS.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import event, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from server.db import db
from server.models import Category, Grid, Town, Village
from server.organisation.deadlines import WorkCalendar, load_calendar


@dataclass
class _Copy:
    """One load of the reference data: detached, fully loaded objects."""

    loaded_at: float
    categories: dict[str, Category]
    villages: dict[int, Village]
    grids: dict[int, Grid]
    towns: dict[int, Town]
    calendar: WorkCalendar


_lock = threading.Lock()


def _ttl() -> float:
    return float(current_app.config.get("REFERENCE_CACHE_SECONDS", 10))


def _load() -> _Copy:
    # A session of its own on the request's connection: it sees what the request's
    # transaction sees, and its objects are copies the request's session does not hold.
    with Session(bind=db.session.connection()) as session:
        categories = session.scalars(
            select(Category).options(selectinload(Category.time_limits))
        ).all()
        villages = session.scalars(select(Village)).all()
        grids = session.scalars(select(Grid)).all()
        towns = session.scalars(select(Town)).all()
        calendar = load_calendar(session)
        session.expunge_all()
    return _Copy(
        time.monotonic(),
        {c.code: c for c in categories},
        {v.id: v for v in villages},
        {g.id: g for g in grids},
        {t.id: t for t in towns},
        calendar,
    )


def _copy() -> _Copy | None:
    ttl = _ttl()
    if ttl <= 0:
        return None
    holder = current_app.extensions.setdefault("reference_copy", {})
    current = holder.get("copy")
    if current is None or time.monotonic() - current.loaded_at > ttl:
        with _lock:
            current = holder.get("copy")
            if current is None or time.monotonic() - current.loaded_at > ttl:
                current = holder["copy"] = _load()
    return current


def forget() -> None:
    """Drop this process's copy (at an edit of categories, villages, grids, towns or the
    calendar), now and again when the edit commits: another thread may reload the copy in
    between, before the edit is there to be read."""
    holder = current_app.extensions.setdefault("reference_copy", {})
    holder.pop("copy", None)
    session = db.session()
    if not event.contains(session, "after_commit", _forget_on_commit):
        event.listen(session, "after_commit", _forget_on_commit, once=True)
    session.info["reference_holder"] = holder


def _forget_on_commit(session) -> None:
    holder = session.info.pop("reference_holder", None)
    if holder is not None:
        holder.pop("copy", None)


def _attach(obj):
    """`obj` (a detached copy) as an object of the current session, without a query."""
    held = db.session.identity_map.get(sa_inspect(obj).key)
    return held if held is not None else db.session.merge(obj, load=False)


def category(code: str) -> Category | None:
    """The category with `code`, in the current session."""
    copy = _copy()
    if copy is not None and (found := copy.categories.get(code)) is not None:
        return _attach(found)
    return db.session.scalar(select(Category).where(Category.code == code))


def village(village_id: int) -> Village | None:
    """The village with `village_id`, in the current session, with its town: a report
    shows it, and a lazy load of it was a query and 1.2 ms of CPU on every report. The
    town is attached on its own, not carried by the village's merge, which would write
    the copy over a town the session holds (and forget a change it has not flushed)."""
    copy = _copy()
    if copy is not None and (found := copy.villages.get(village_id)) is not None:
        held = _attach(found)
        if "town" not in held.__dict__:
            # The held village's own town id: one the session read afresh may have moved.
            town = copy.towns.get(held.town_id)
            if town is not None:
                set_committed_value(held, "town", _attach(town))
        return held
    return db.session.get(Village, village_id)


def grid(grid_id: int) -> Grid | None:
    """The grid with `grid_id`, in the current session."""
    copy = _copy()
    if copy is not None and (found := copy.grids.get(grid_id)) is not None:
        return _attach(found)
    return db.session.get(Grid, grid_id)


def calendar() -> WorkCalendar:
    """The working calendar with the admin's corrections."""
    copy = _copy()
    return copy.calendar if copy is not None else load_calendar()
