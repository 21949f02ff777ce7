"""How long a case's running step has left, or how late it is: one count for every page.

The queue, the supervision list (督办) and the case page all show this figure, so a clerk
reads the same lateness for the same case wherever they look: under a day in hours,
beyond it in working days counted on the town's calendar (weekends and holidays skipped,
make-up workdays counted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from server.cases.workflow import OPEN
from server.infra import clock
from server.models import Case
from server.organisation.deadlines import WorkCalendar

# The states a running step can be in, as the pages colour them.
OK, WARN, OVERDUE = "ok", "warn", "overdue"
STATE_LABELS = {OK: "未到期", WARN: "即将到期", OVERDUE: "已超期"}


@dataclass(frozen=True)
class TimeLeft:
    """A running step's time: its state (ok, warn, overdue) and the words for it."""

    state: str
    text: str  # 剩余2个工作日, 超期5小时, ...

    @property
    def late(self) -> bool:
        return self.state == OVERDUE

    @property
    def label(self) -> str:
        """The state in words: 未到期, 即将到期, 已超期."""
        return STATE_LABELS[self.state]


def time_left(
    case: Case, *, calendar: WorkCalendar, now: datetime | None = None
) -> TimeLeft | None:
    """How long the running step of `case` has left (or is over); None for a case whose
    clock does not run.

    Under a day: hours; beyond: working days, counted on the calendar.
    """
    if case.due_at is None or case.status not in OPEN:
        return None
    now = now or clock.now()
    late = case.due_at < now
    gap = abs(case.due_at - now)
    state = OVERDUE if late else (WARN if case.warn_at and case.warn_at <= now else OK)
    if gap < timedelta(days=1):
        hours = max(1, round(gap.total_seconds() / 3600))
        text = f"{hours}小时"
    else:
        start, end = sorted([now, case.due_at])
        days = calendar.workdays_between(clock.local(start).date(), clock.local(end).date())
        text = f"{max(days, 1)}个工作日"
    return TimeLeft(state, ("超期" if late else "剩余") + text)
