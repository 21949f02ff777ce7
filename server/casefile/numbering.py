"""Numbers in the town's style, one sequence per year and kind: 〔2026〕大调字第15号.

A number is taken by one statement, INSERT ... ON CONFLICT (year, kind) DO UPDATE SET
last = last + 1 RETURNING last: on PostgreSQL the row's lock makes a second transaction
wait until the first commits and then read its number; SQLite's writers go one at a time.
Either way two mediators never get the same number, and a number is never reused (one
given in a transaction that rolls back is given again, so no gap is left either).
"""

from __future__ import annotations

from flask import current_app

from server.db import db, insert_for
from server.models import NumberCounter

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


def take(kind: str, year: int) -> int:
    """The next number of `kind` in `year` (1, 2, ...), taken for this transaction."""
    statement = insert_for(NumberCounter.__table__).values(year=year, kind=kind, last=1)
    statement = statement.on_conflict_do_update(
        index_elements=["year", "kind"], set_={"last": NumberCounter.__table__.c.last + 1}
    ).returning(NumberCounter.__table__.c.last)
    return db.session.execute(statement).scalar_one()


def prefix() -> str:
    """The town's character in its numbers (大 for 大钟庄镇): DOCUMENT_NUMBER_PREFIX, or
    the first character of TOWN_NAME."""
    config = current_app.config
    return config.get("DOCUMENT_NUMBER_PREFIX") or (config.get("TOWN_NAME") or "镇")[:1]


def display(kind: str, year: int, serial: int) -> str:
    """A number as printed: 〔2026〕大调字第15号."""
    return f"〔{year}〕{prefix()}{WORDS[kind]}字第{serial}号"
