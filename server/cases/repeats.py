"""Repeat disputes (重复纠纷): the same parties in a dispute again within a window.

A dispute that comes back between the same people is the town's early warning of 民转刑
(a quarrel turning into a crime), whatever became of the earlier case. Two disputes are
between the same parties when at least two parties match (or the one party, when a case
names only one); a party matches by name as compared (`name_key`: NFKC, no spaces or
separators, lower case) and, where both cases give a phone, by phone too. A name kept
back as records often write it (张某, 李某某) or of one character says nothing by itself:
such a party matches only by the same phone.

The window is REPEAT_DISPUTE_MONTHS (default 12) before the later case was filed. A
report folded into another (merged) or not taken on (rejected) is no earlier dispute.

An earlier dispute is one of the same town's. The flag is the town's warning, read by
its center, who must be able to open what it repeats (a town's center sees no other
town's cases); and in a district of 450 villages, two people of common names in two
towns are more often two other people than the same ones again.
"""

from __future__ import annotations

import calendar
import functools
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import aliased

from server.db import db
from server.models import Case, CaseParty, CaseStatus, Category, CategoryGroup

# Cases filed a little before the window's start may still carry a later id (two app
# machines' clocks, a back-dated import): the id bound of the search starts this early.
ID_BOUND_MARGIN = timedelta(days=1)
_SEPARATORS = re.compile(r"[\s·•．.、,，()（）\-—_]+")


def name_key(name: str) -> str:
    """A party's name as compared: 'Zhang San', '张 三', '张三（本人）' ... kept close."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", name or "")).lower()[:64]


def phone_key(phone: str | None) -> str | None:
    """A phone as compared: its digits, without the country code 86."""
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", phone or ""))
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits[:32] or None


def is_placeholder(key: str) -> bool:
    """A name as records write it when they keep it back (张某), or too short to tell."""
    return "某" in key or len(key) < 2


def same_party(key: str, phone: str | None, other_key: str, other_phone: str | None) -> bool:
    """Whether two parties (name keys and phone keys) are the same person."""
    if not key or key != other_key:
        return False
    if is_placeholder(key):
        return phone is not None and phone == other_phone
    return phone is None or other_phone is None or phone == other_phone


def months_before(moment: datetime, months: int) -> datetime:
    """`moment` the same day and time `months` earlier (the month's last day if shorter)."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    month += 1
    last = calendar.monthrange(year, month)[1]
    return moment.replace(year=year, month=month, day=min(moment.day, last))


@dataclass
class Repeat:
    """An earlier dispute between the same parties, and the names they share."""

    case: Case
    shared: list[str]


def _parties(parties: list[CaseParty]) -> list[tuple[str, str | None]]:
    return [(p.name_key or name_key(p.name), p.phone_key or phone_key(p.phone)) for p in parties]


def _shape(key: str, phone: str | None) -> str:
    """How a party is compared: by the same phone only (a name kept back), by name and a
    phone that does not differ, or by name alone."""
    if is_placeholder(key):
        return "phone"
    return "name_phone" if phone is not None else "name"


def _party_clause(party, shape: str, n: int):
    """SQL: `party` (a CaseParty alias) is the same person as the n-th party asked about
    (bound as key<n>, phone<n>), as `same_party` says in Python."""
    clause = party.name_key == bindparam(f"key{n}")
    phone = bindparam(f"phone{n}")
    if shape == "phone":
        return clause & (party.phone_key == phone)
    if shape == "name_phone":
        return clause & (party.phone_key.is_(None) | (party.phone_key == phone))
    return clause


@functools.cache
def _question(shapes: tuple[str, ...], *, between_several: bool, fenced: bool):
    """The statement asking for earlier disputes naming the parties asked about (bound as
    key<n>, phone<n>; `shapes` says how each compares), newest first: a case naming one
    of them and another of them, or one naming only that one; with a single party asked
    about (not `between_several`), any case naming it. One statement, built once per
    shape (building it costs more than running it); `fenced` for PostgreSQL (below)."""
    a, b = aliased(CaseParty), aliased(CaseParty)

    def any_of_mine(party):
        return or_(*(_party_clause(party, shape, n) for n, shape in enumerate(shapes, 1)))

    # Case ids grow with time: the party index is read from the window's first case on
    # (a day early, for two machines' clocks and back-dated imports).
    first_id = (
        select(Case.id)
        .where(Case.created_at >= bindparam("id_bound"))
        .order_by(Case.created_at)
        .limit(1)
        .scalar_subquery()
    )
    query = select(a.case_id, a.name_key).where(
        any_of_mine(a), a.case_id >= first_id, a.case_id != bindparam("exclude_id")
    )
    case_id, name_key = a.case_id, a.name_key
    if fenced:
        # The parties asked about are found first on that index, and only then their
        # cases: PostgreSQL is told so (MATERIALIZED), since its planner, whose statistics
        # lag behind the newest cases, otherwise judged the window's cases few and walked
        # all of them, a cost that grew with every case filed (0.4 ms of the database's
        # CPU a report after 100 reports, 3.1 ms after 3,000). SQLite reads it in this
        # order already, and the plain statement costs it less to run.
        named = query.cte("named").prefix_with("MATERIALIZED")
        query = select(named.c.case_id).select_from(named)
        case_id, name_key = named.c.case_id, named.c.name_key
    else:
        query = query.with_only_columns(a.case_id)
    if between_several:
        another = (
            select(b.id)
            .where(b.case_id == case_id, b.name_key != name_key, any_of_mine(b))
            .exists()
        )
        alone = select(func.count(b.id)).where(b.case_id == case_id).scalar_subquery()
        query = query.where(or_(another, alone == 1))
    return (
        query.join(Case, Case.id == case_id)
        .join(Category, Category.id == Case.category_id)
        .where(
            Case.town_id == bindparam("town_id"),
            Case.created_at >= bindparam("since"),
            Case.created_at < bindparam("before"),
            # Two comparisons, not NOT IN: an IN list is spliced into the SQL at every run.
            Case.status != CaseStatus.MERGED,
            Case.status != CaseStatus.REJECTED,
            Category.group == CategoryGroup.DISPUTE,
        )
        .order_by(case_id.desc())
        .limit(bindparam("limit"))
    )


def _repeat_ids(
    parties: list[CaseParty],
    before: datetime,
    *,
    town_id: int,
    exclude_id: int | None,
    limit: int,
) -> list[int]:
    """The ids of `town_id`'s earlier disputes between `parties` in the window before
    `before`, newest first, at most `limit`.

    Filing a report asks this, so it reads little: one statement walks the party index
    (name_key, case_id) from the window's first case on, for the names asked about only.
    """
    mine = [
        (key, phone)
        for key, phone in _parties(parties)
        if key and (phone or not is_placeholder(key))
    ][:4]
    if not mine:
        return []
    since = months_before(before, int(current_app.config["REPEAT_DISPUTE_MONTHS"]))
    values = {
        f"{name}{n}": value
        for n, (key, phone) in enumerate(mine, start=1)
        for name, value in (("key", key), ("phone", phone))
    }
    connection = db.session.connection()
    statement = _question(
        tuple(_shape(k, p) for k, p in mine),
        between_several=len(parties) >= 2,
        fenced=connection.dialect.name == "postgresql",
    )
    rows = connection.execute(
        statement,
        values
        | {
            "id_bound": since - ID_BOUND_MARGIN,
            "town_id": town_id,
            "exclude_id": exclude_id or -1,
            "since": since,
            "before": before,
            "limit": limit * len(mine),
        },
    )
    # A case naming two of them comes once for each: the first time counts.
    return list(dict.fromkeys(row[0] for row in rows))[:limit]


# The earlier disputes a case page lists: the newest few say what is needed.
SHOWN = 5


def earlier_disputes(
    parties: list[CaseParty],
    before: datetime,
    *,
    town_id: int,
    exclude_id: int | None = None,
    limit: int = SHOWN,
) -> list[Repeat]:
    """`town_id`'s earlier disputes between these `parties`, filed within the window
    before `before`, newest first (at most `limit`), with the names they share."""
    ids = _repeat_ids(parties, before, town_id=town_id, exclude_id=exclude_id, limit=limit)
    if not ids:
        return []
    mine = _parties(parties)
    shared: dict[int, set[str]] = {i: set() for i in ids}
    for case_id, name, key, phone in db.session.connection().execute(
        select(CaseParty.case_id, CaseParty.name, CaseParty.name_key, CaseParty.phone_key).where(
            CaseParty.case_id.in_(ids)
        )
    ):
        if any(same_party(k, p, key, phone) for k, p in mine):
            shared[case_id].add(name)
    cases = {c.id: c for c in db.session.scalars(select(Case).where(Case.id.in_(ids)))}
    return [Repeat(cases[i], sorted(shared[i])) for i in ids]


def repeats(case: Case) -> bool:
    """Whether `case` (a case already filed) is a dispute repeating an earlier one: what
    its `repeat_dispute` flag says, found afresh (at a change of category)."""
    if not case.category.is_dispute or not case.parties:
        return False
    found = _repeat_ids(
        list(case.parties), case.created_at, town_id=case.town_id, exclude_id=case.id, limit=1
    )
    return bool(found)


def repeats_of(case: Case) -> list[Repeat]:
    """The earlier disputes a case flagged as a repeat dispute repeats, for its page; none
    for any other case (the flag, kept by filing and acceptance, decides)."""
    if not case.repeat_dispute or not case.category.is_dispute or not case.parties:
        return []
    if case.known_repeats is not None:  # a new case, checked a moment ago
        return case.known_repeats
    return earlier_disputes(
        list(case.parties), case.created_at, town_id=case.town_id, exclude_id=case.id
    )
