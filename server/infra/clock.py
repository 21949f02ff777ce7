"""The current time, in one place, so tests and the demo data can move it.

Everything stored is UTC; `local()` gives the town's wall-clock time for display and
for counting working days.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

from server.infra.errors import ValidationFailed

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")
_frozen: datetime | None = None


def now() -> datetime:
    """The current time as an aware UTC datetime (the frozen one inside `frozen_at`)."""
    return _frozen if _frozen is not None else datetime.now(UTC)


def town_tz() -> ZoneInfo:
    """The town's time zone: the app's TIMEZONE setting, or Asia/Shanghai outside an app."""
    if has_app_context():
        return current_app.config.get("TZ", DEFAULT_TZ)
    return DEFAULT_TZ


def local(moment: datetime) -> datetime:
    """`moment` on the town's wall clock."""
    return moment.astimezone(town_tz())


# The years a date people give may fall in (a dispute over land may go back decades; the
# calendar is confirmed up to 2100). Further out is a slip of the finger, and at the
# calendar's ends (year 1, year 9999) a time zone's shift or the next day is past what
# Python's datetime holds: a 500 instead of an answer.
FIRST_YEAR, LAST_YEAR = 1900, 2100


def check_year(moment: date | datetime, field: str | None = None) -> None:
    """ValidationFailed unless `moment` falls in FIRST_YEAR to LAST_YEAR."""
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise ValidationFailed(
            f"日期须在{FIRST_YEAR}年至{LAST_YEAR}年之间。", code="date_out_of_range", field=field
        )


def month_of(moment: datetime) -> date:
    """The first day of the town's month that `moment` falls in."""
    return local(moment).date().replace(day=1)


@contextmanager
def frozen_at(moment: datetime) -> Iterator[None]:
    """Run the block as if the time were `moment` (must be aware)."""
    global _frozen
    if moment.tzinfo is None:
        raise ValueError("frozen_at needs an aware datetime")
    previous, _frozen = _frozen, moment.astimezone(UTC)
    try:
        yield
    finally:
        _frozen = previous


def advance(delta: timedelta) -> None:
    """Move a frozen clock forward (only inside `frozen_at`)."""
    global _frozen
    if _frozen is None:
        raise RuntimeError("advance() works only inside frozen_at()")
    _frozen = _frozen + delta
