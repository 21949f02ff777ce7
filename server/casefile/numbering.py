"""Numbers in the town's style, one sequence per town, year and kind: 〔2026〕大调字第15号.

Each town of a district counts its own papers (its office's numbers run from 1 each year
whatever its neighbours do) and prints its own character. A number is taken by one
statement, INSERT ... ON CONFLICT (town, year, kind) DO UPDATE SET last = last + 1
RETURNING last: on PostgreSQL the row's lock makes a second transaction wait until the
first commits and then read its number; SQLite's writers go one at a time. Either way two
mediators never get the same number, and a number is never reused (one given in a
transaction that rolls back is given again, so no gap is left either).
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from server.db import db, insert_for
from server.models import NumberCounter, Town

# What each kind's number says after the town's character (大调字 ...): the kinds of
# server/models/casefile.py DocumentKind, and the archive's 卷号.
WORDS = {
    "application": "调申",
    "rights_notice": "调告",
    "session_record": "调录",
    "agreement": "调",
    "visit_record": "调访",
    "confirmation": "调确",
    "archive": "档",
}


def take(kind: str, year: int, town: Town) -> int:
    """The next number of `kind` in `year` for `town` (1, 2, ...), taken for this
    transaction."""
    table = NumberCounter.__table__
    statement = insert_for(table).values(town_id=town.id, year=year, kind=kind, last=1)
    statement = statement.on_conflict_do_update(
        index_elements=["town_id", "year", "kind"], set_={"last": table.c.last + 1}
    ).returning(table.c.last)
    return db.session.execute(statement).scalar_one()


def prefix(town: Town) -> str:
    """`town`'s character in its numbers: its own (文号简称, set in the town file); else,
    for the deployment's own town (the one named TOWN_NAME, else the first), the
    configured DOCUMENT_NUMBER_PREFIX where there is one; else the first character of its
    name (大 for 大钟庄镇, 小 for 小王庄镇)."""
    if town.document_prefix:
        return town.document_prefix
    configured = current_app.config.get("DOCUMENT_NUMBER_PREFIX")
    if configured:
        own = db.session.scalar(
            select(Town.id)
            .order_by((Town.name == current_app.config.get("TOWN_NAME")).desc(), Town.id)
            .limit(1)
        )
        if town.id == own:
            return configured
    return (town.name or "镇")[:1]


def display(kind: str, year: int, serial: int, town: Town) -> str:
    """A number as printed: 〔2026〕大调字第15号."""
    return f"〔{year}〕{prefix(town)}{WORDS[kind]}字第{serial}号"
