"""Who keeps whose account: the one rule both the account pages
(server/organisation/accounts.py) and the second person's approval
(server/trust/approvals.py) go by, so that a town's security admin can neither change
nor approve what belongs to another town."""

from __future__ import annotations

from server.models import User


def keeps(actor: User | None, user: User) -> bool:
    """Whether `actor` keeps `user`'s account: a town's account keeper their own town's
    accounts only (never the district's); the district's, and the machine's operator (the
    command line, the town file: no actor), every account."""
    return actor is None or actor.town_id is None or user.town_id == actor.town_id
