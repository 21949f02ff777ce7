"""Finding a case by its public number as a person typed it, through the access policy.

Apart from `operations` so that the workflow (a merge names its target by number) can find
a case without importing the operations built on top of it.
"""

from __future__ import annotations

from sqlalchemy import select

from server.cases import access
from server.db import db
from server.infra import codes
from server.infra.errors import NotFound
from server.models import Case, User


def find_case(code: str) -> Case | None:
    """The case with public number `code` (as typed by a person), or None."""
    return db.session.scalar(select(Case).where(Case.code == codes.normalise(code)))


def get_case_for(code: str, user: User) -> Case:
    """The case `code` if `user` may see it; NotFound otherwise (existence is not leaked)."""
    case = find_case(code)
    if case is None or not access.can_view_case(user, case):
        raise NotFound("找不到该案件，或您无权查看。")
    return case
