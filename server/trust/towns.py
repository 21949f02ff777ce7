"""The town rule, once: a town's people read and keep their own town's rows; the
district's accounts, which have no town, every town's. The access policy
(server/cases/access.py), the account pages (server/organisation/accounts.py), the second
person's approval (server/trust/approvals.py), the audit log, screenings and failed
messages all go by it, so that no part writes its own version of who sees which town."""

from __future__ import annotations

from sqlalchemy import ColumnElement, true

from server.models import User


def in_users_town(user: User, town_column) -> ColumnElement[bool]:
    """A WHERE clause keeping rows of `user`'s town (their villages, departments,
    people); the district's accounts, which have none, keep every town's."""
    return true() if user.town_id is None else town_column == user.town_id


def keeps(actor: User | None, user: User) -> bool:
    """Whether `actor` keeps `user`'s account: a town's account keeper their own town's
    accounts only (never the district's); the district's, and the machine's operator (the
    command line, the town file: no actor), every account."""
    return actor is None or actor.town_id is None or user.town_id == actor.town_id


def reaches(actor: User | None, town_id: int | None) -> bool:
    """Whether `actor` may change a row of `town_id` (a village, a grid): their own town's
    for a town's people; every town's for the district's and for the machine's operator."""
    return actor is None or actor.town_id is None or town_id == actor.town_id
