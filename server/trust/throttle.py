"""Failed sign-ins, counted so that each slows the next try down and none locks anyone out.

They are counted in the database (every worker and machine sees the same count) three
ways, so nobody can shut `center` out of its desk by typing wrong passwords at it (MLPS
level 3 asks that failed sign-ins be limited, not that an account be lockable by anyone):

- per username and address: the one guessing at an account from one place waits longer
  and longer (up to 15 minutes a try);
- per address, whatever the usernames (a password spray): up to an hour a try;
- per username from everywhere (many addresses at one account): at most a minute a try,
  so the real user, elsewhere, waits a minute at worst while guessing stays slow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete

from server.db import db, insert_for
from server.infra import clock
from server.infra.errors import TooManyRequests
from server.models import LoginThrottle
from server.trust import ratelimit


@dataclass(frozen=True)
class Slowing:
    """After `after` failures each further try waits 1 s, 2 s, 4 s, ... up to `longest`."""

    after: int
    longest: timedelta

    def ready_at(self, failures: int, last_failure_at: datetime | None) -> datetime | None:
        """When the next try may be made, or None when it need not wait."""
        if failures < self.after or last_failure_at is None:
            return None
        seconds = min(self.longest.total_seconds(), 2 ** min(failures - self.after, 24))
        return last_failure_at + timedelta(seconds=seconds)


PAIR = Slowing(after=3, longest=timedelta(minutes=15))  # one username from one address
ADDRESS = Slowing(after=10, longest=timedelta(hours=1))  # a village office shares one
USERNAME = Slowing(after=5, longest=timedelta(minutes=1))  # the real user's worst wait


def _throttle_key(username: str) -> str:
    # No username is longer than its column (64): a longer one is counted by its start.
    return f"user:{username.strip().lower()[:64]}"


def _address_key(ip: str) -> str:
    return f"ip:{ratelimit.anonymise(ip)}"


def _pair_key(username: str, ip: str) -> str:
    return f"pair:{ratelimit.anonymise(ip + ' ' + username.strip().lower()[:64])}"


def _counters(username: str, ip: str | None) -> list[tuple[str, Slowing, str]]:
    """(key, slowing, what the refusal says) of each count a sign-in is checked against."""
    counters = [(_throttle_key(username), USERNAME, "该账号登录失败次数较多")]
    if ip:
        counters += [
            (_pair_key(username, ip), PAIR, "登录失败次数较多"),
            (_address_key(ip), ADDRESS, "本机登录失败次数较多"),
        ]
    return counters


def check(username: str, ip: str | None = None) -> None:
    """Raise TooManyRequests when a try at this username from this address must wait:
    by this pair's failures, this address's, or this username's from everywhere (the
    longest of their waits, so a wait served is never met by another)."""
    now = clock.now()
    waits = []
    for key, slowing, said in _counters(username, ip):
        row = db.session.get(LoginThrottle, key)
        ready = slowing.ready_at(row.failures, row.last_failure_at) if row else None
        if ready is not None and ready > now:
            waits.append((ready, said))
    if waits:
        ready, said = max(waits)
        wait = int((ready - now).total_seconds()) + 1
        when = f"{wait}秒" if wait < 120 else f"{wait // 60 + 1}分钟"
        raise TooManyRequests(f"{said}，请{when}后再试。", code="login_throttled", retry_after=wait)


def purge(now: datetime, *, after: timedelta = timedelta(days=1)) -> int:
    """Forget failed sign-ins a day old (slowing nobody any more: the longest wait is an
    hour)."""
    return (
        db.session.execute(
            delete(LoginThrottle).where(LoginThrottle.last_failure_at < now - after)
        ).rowcount
        or 0
    )


def count_failure(username: str, ip: str | None) -> bool:
    """Count a failed sign-in at `username` from `ip`; True when the username's failures
    from everywhere have just reached the point where every try at it is slowed.

    Each count is one atomic upsert (failures + 1 in the database, not in Python): wrong
    passwords sent at once each count, and two first failures never meet on the key.
    """
    now = clock.now()
    slowed = False
    table = LoginThrottle.__table__
    for key, slowing, _said in _counters(username, ip):
        statement = insert_for(table).values(key=key, failures=1, last_failure_at=now)
        failures = db.session.execute(
            statement.on_conflict_do_update(
                index_elements=[table.c.key],
                set_={"failures": table.c.failures + 1, "last_failure_at": now},
            ).returning(table.c.failures)
        ).scalar_one()
        if slowing is USERNAME and failures == slowing.after:
            slowed = True
    return slowed


def clear(username: str, ip: str | None) -> None:
    """A good sign-in: forget the failures of this username, from here and from
    everywhere (an address's count stays: one good password does not clear a spray)."""
    for key, slowing, _said in _counters(username, ip):
        if slowing is not ADDRESS:
            row = db.session.get(LoginThrottle, key)
            if row is not None:
                db.session.delete(row)
