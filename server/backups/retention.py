"""Which backups to keep: 7 daily, 4 weekly, 12 monthly, and nothing decided by I/O.

`keep` is a pure function of the archives' times, so the rule is tested over years of
nightly backups (tests/test_backup.py) without a file. Each rule is applied on its own
over every archive and the kept sets are joined (as restic's `forget` does): the newest
archive of each of the last 7 days that have one, of the last 4 ISO weeks, of the last
12 months. Days, weeks and months are the town's (Asia/Shanghai), so a backup at 02:30
belongs to the day the town calls it, not to UTC's day before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

DAILY, WEEKLY, MONTHLY = 7, 4, 12
TOWN = ZoneInfo("Asia/Shanghai")


def _day(moment: datetime) -> tuple:
    return (moment.year, moment.month, moment.day)


def _week(moment: datetime) -> tuple:
    # The ISO year, not the calendar year: 2026-12-31 and 2027-01-01 share a week.
    iso = moment.isocalendar()
    return (iso.year, iso.week)


def _month(moment: datetime) -> tuple:
    return (moment.year, moment.month)


def keep(
    times: Iterable[datetime],
    *,
    zone: tzinfo = TOWN,
    daily: int = DAILY,
    weekly: int = WEEKLY,
    monthly: int = MONTHLY,
) -> set[datetime]:
    """The times (timezone-aware) of the archives to keep; every other one may go."""
    newest_first = sorted(times, reverse=True)
    kept: set[datetime] = set()
    rules: list[tuple[Callable[[datetime], tuple], int]] = [
        (_day, daily),
        (_week, weekly),
        (_month, monthly),
    ]
    for bucket_of, count in rules:
        seen: set[tuple] = set()
        for moment in newest_first:
            if len(seen) >= count:
                break
            bucket = bucket_of(moment.astimezone(zone))
            if bucket not in seen:  # the newest archive of its day, week or month
                seen.add(bucket)
                kept.add(moment)
    return kept
