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
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from server.extensions import db
from server.models import Case, CaseParty, CaseStatus, Category, CategoryGroup

CANDIDATE_ROWS = 500
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


def earlier_disputes(parties: list[CaseParty], before: datetime, *,
                     exclude_id: int | None = None) -> list[Repeat]:
    """Earlier disputes between these `parties`, filed within the window before `before`,
    newest first."""
    mine = [(p.name_key or name_key(p.name), p.phone_key or phone_key(p.phone))
            for p in parties]
    keys = {key for key, phone in mine if key and (phone or not is_placeholder(key))}
    if not keys:
        return []
    since = months_before(before, int(current_app.config["REPEAT_DISPUTE_MONTHS"]))
    # Case ids grow with time: the party index (name_key, case_id) is read from the first
    # case of the window on, so years of older cases cost nothing.
    first_id = db.session.scalar(select(Case.id).where(
        Case.created_at >= since - ID_BOUND_MARGIN).order_by(Case.created_at).limit(1))
    if first_id is None:
        return []
    rows = db.session.execute(
        select(CaseParty.case_id, CaseParty.name, CaseParty.name_key, CaseParty.phone_key)
        .join(Case, Case.id == CaseParty.case_id)
        .join(Category, Category.id == Case.category_id)
        .where(CaseParty.name_key.in_(keys), CaseParty.case_id >= first_id,
               Case.created_at >= since, Case.created_at < before,
               Case.id != (exclude_id or -1),
               Case.status.not_in([CaseStatus.MERGED, CaseStatus.REJECTED]),
               Category.group == CategoryGroup.DISPUTE)
        # The newest few hundred: a name that common within a year says little more.
        .order_by(CaseParty.case_id.desc()).limit(CANDIDATE_ROWS)).all()
    if not rows:
        return []
    matched: dict[int, dict[str, str]] = {}  # case -> {name_key: the name written there}
    for case_id, name, key, phone in rows:
        for my_key, my_phone in mine:
            if same_party(my_key, my_phone, key, phone):
                matched.setdefault(case_id, {})[key] = name
    if not matched:
        return []
    sizes = dict(db.session.execute(
        select(CaseParty.case_id, func.count()).where(CaseParty.case_id.in_(matched))
        .group_by(CaseParty.case_id)).all())
    found = []
    cases = {c.id: c for c in db.session.scalars(select(Case).where(Case.id.in_(matched)))}
    for case_id, names in matched.items():
        needed = min(2, len(mine), sizes[case_id])
        if len(names) >= needed:
            found.append(Repeat(cases[case_id], sorted(names.values())))
    return sorted(found, key=lambda r: (r.case.created_at, r.case.id), reverse=True)


def repeats_of(case: Case) -> list[Repeat]:
    """The earlier disputes `case` repeats (none for a case that is not a dispute)."""
    if not case.category.is_dispute or not case.parties:
        return []
    return earlier_disputes(list(case.parties), case.created_at, exclude_id=case.id)
