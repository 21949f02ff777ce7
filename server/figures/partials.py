"""What a range of time adds to the figures, counted from the event indexes (a `Partial`).

How, at a million cases: each event carries, as columns, when its case last had the same
action (and the same result, and any counted action). A case counts once in a period by
its one event there whose previous time is before the period, so counting needs no
DISTINCT, and a month's counts can be kept with the previous times' month (a `Partial`):
a quarter or a year adds up its months, each read from `MonthlyFigures` once the month is
over (the sweep keeps them) and counted from the indexes otherwise. The reports received
are kept too (`MonthlyReceived`), as of the month's latest change, and counted afresh
when a later change (a merge, a new category) made the kept ones stale.
"""

from __future__ import annotations

import base64
import sys
from array import array
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import case as sql_case
from sqlalchemy import delete, false, func, or_, select
from sqlalchemy.exc import IntegrityError

from server.cases.workflow.table import COUNTED_ACTIONS
from server.db import db, insert_for
from server.figures.periods import Period, month
from server.infra import clock
from server.models import (
    Case,
    CaseStatus,
    Category,
    CategoryGroup,
    ClosingReason,
    MonthlyFigures,
    MonthlyReceived,
    ResultCode,
    Step,
    Town,
    TownMonthlyFigures,
    Village,
)
from server.models import (
    CaseEvent as Event,
)

# Counted once per case by a resolve or close with this result, each by the previous time
# of the same action with the same result: key -> (action, result).
_BY_RESULT = {
    "mediated": ("resolve", ResultCode.MEDIATED.value),
    "removed": ("resolve", ResultCode.HAZARD_REMOVED.value),
    "closed_resolved": ("close", ClosingReason.RESOLVED.value),
}


@dataclass
class Partial:
    """What the events of a range of time [start, end) add to any period containing it.

    Only events: they are written at the moment they happen and never change, so a month
    that is over keeps its partial for good. The reports received are not here: a
    duplicate merged later, a report reclassified at acceptance, change them
    (`Received`, kept apart with a revision: `keep_received`).

    A count "once per case" is kept by the *bucket* of its event's previous time: the
    number of the range's `marks` (period starts it may belong to, ascending, the last
    being its own start) at or before that time, 0 when there is none. In a period that
    starts at marks[j], the event counts when its bucket is at most j.
    """

    once: list[list] = field(default_factory=list)  # [key, bucket, dispute, n]
    # key -> bucket -> the seconds from the report, sorted (a period's median is found by
    # bisecting its months' runs: server/figures/statistics.py).
    seconds: dict[str, dict[str, Sequence[int]]] = field(default_factory=dict)
    on_time: dict[str, list[int]] = field(default_factory=dict)  # step -> [kept, all]
    follow_ups: list[list] = field(default_factory=list)  # [action, satisfaction, n]

    # Bumped when what a partial holds changes: kept rows of an older version are ignored
    # (counted again) until the sweep replaces them. 3: reopened cases; 4: enforcement
    # counted apart from hazards; 5: the seconds sorted, each run packed (`_pack`).
    VERSION = 5

    def as_json(self) -> dict:
        return {
            "once": self.once,
            "seconds": {
                key: {bucket: _pack(run) for bucket, run in runs.items()}
                for key, runs in self.seconds.items()
            },
            "on_time": self.on_time,
            "follow_ups": self.follow_ups,
        }

    @classmethod
    def from_json(cls, stored: dict) -> Partial:
        return cls(
            once=stored["once"],
            seconds={
                key: {bucket: _unpack(text) for bucket, text in runs.items()}
                for key, runs in stored["seconds"].items()
            },
            on_time=stored["on_time"],
            follow_ups=stored["follow_ups"],
        )


def _pack(run: Sequence[int]) -> str:
    """A sorted run of seconds as text in the kept JSON: base64 of 8-byte little-endian
    integers. A district's month holds some hundred thousand of them a step, and reading
    them back as a JSON list of numbers took longer than the year's SQL."""
    packed = array("q", run)
    if sys.byteorder == "big":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


def _unpack(text: str) -> array:
    run = array("q")
    run.frombytes(base64.b64decode(text))
    if sys.byteorder == "big":
        run.byteswap()
    return run


def marks_of_month(first: date) -> list[datetime]:
    """The starts of the 12 months that end with `first`'s: a year or a quarter containing
    this month starts at one of them."""
    number = first.year * 12 + first.month - 1
    tz = clock.town_tz()
    return [datetime(n // 12, n % 12 + 1, 1, tzinfo=tz) for n in range(number - 11, number + 1)]


def _bucket(column, marks: list[datetime]):
    """SQL: how many of `marks` are at or before `column` (0 when NULL)."""
    whens = [(column >= mark, len(marks) - i) for i, mark in enumerate(reversed(marks))]
    return sql_case((column.is_(None), 0), *whens, else_=0)  # NULL first: the usual case


def _first_since(previous, start: datetime):
    """SQL: the event is its case's first of its kind since `start` (counted once there)."""
    return or_(previous.is_(None), previous < start)


def villages_scope(column, village_id, *, read: str = "seek") -> list:
    """The condition on `column` of a dashboard's villages: `village_id` is one village's
    id, the ids of several (a town's, in a district of towns: a tuple), or None (all).

    Several villages are asked by what the statement reads them through (`read`):
    - "seek" (the village leads the index, as a screening's (village_id, screened_at)
      or the open cases' (village_id, ...)): an IN, each village sought.
    - "range" (the village is a later column of an index read by a range, as an event's
      (action, at, ..., village_id)): a range, then the exact test. PostgreSQL 15 reads
      an index once for each value of an IN on such a column: a town's 45 villages took
      45 passes over the district's month, 0.9 s where the district's whole month took
      0.28 s (1M cases, 10 towns). A range is tested on the index entries in one pass, so
      only the town's rows are read from the table (0.09 s); the exact test (`+ 0`,
      which no index takes) drops another town's village inside the range. A town's
      villages are made together, so their ids mostly run together; where they do not,
      the range holds more of the district, and costs what no filter did.
    - "test" (an index holds the village beside what is counted, as the received
      reports' (created_at, ..., village_id)): the exact test alone, on each entry. As a
      range it would lead SQLite to the village's own index, through its whole history.
    """
    if village_id is None:
        return []
    if isinstance(village_id, int):
        return [column == village_id]
    if not village_id:
        return [false()]
    if read == "seek":
        return [column.in_(village_id)]
    exact = (column + 0).in_(village_id)
    if read == "test":
        return [exact]
    return [column.between(min(village_id), max(village_id)), exact]


def case_scope(
    village_id: int | tuple | None, category_ids: list[int] | None, *, read: str = "seek"
) -> list:
    """The conditions on cases of a dashboard for some villages or a category (`read`: as
    `villages_scope`)."""
    scope = villages_scope(Case.village_id, village_id, read=read)
    if category_ids is not None:
        scope.append(Case.category_id.in_(category_ids))
    return scope


def counted_scope(village_id: int | tuple | None, category_ids: list[int] | None) -> list:
    """`case_scope` for a count read through an index led by the time (the received
    reports', the repeat disputes' partial one). A town's villages are tested on its
    entries: sought, SQLite read each village's cases of the period through the village's
    own index (a town's year of repeat disputes 334 ms, a month's reports 49 ms against
    26 ms, at 1M cases in ten towns). Narrowed to a category they are sought:
    (village, category, time) holds just the town's cases of it, where a test would read
    the district's."""
    return case_scope(village_id, category_ids, read="seek" if category_ids else "test")


# What a once-per-case count is kept by, besides its bucket: the kind of case.
HAZARD, DISPUTE, ENFORCEMENT = 0, 1, 2


def count_range(
    start: datetime,
    end: datetime,
    marks: list[datetime],
    *,
    kinds: dict[int, int],
    village_id: int | tuple | None = None,
    category_ids: list[int] | None = None,
) -> Partial:
    """Count [start, end) from the indexes; `marks` end with `start`."""
    out = Partial()
    # Core, not the ORM session's execute: rows come back as plain tuples, without the
    # ORM's per-row loading (several times the cost on a month's tens of thousands).
    read = db.session.connection().execute
    in_range = [Event.at >= start, Event.at < end]
    in_range += villages_scope(Event.village_id, village_id, read="range")
    if category_ids is not None:
        in_range.append(Event.category_id.in_(category_ids))
    dispute = kind_of(Event.category_id, kinds)
    for key, (action, result) in _BY_RESULT.items():
        bucket = _bucket(Event.previous_result_at, marks)
        out.once += [
            [key, b, d, n]
            for b, d, n in read(
                select(bucket, dispute, func.count())
                .where(
                    Event.action == action,
                    Event.result == result,
                    *in_range,
                    _first_since(Event.previous_result_at, start),
                )
                .group_by(bucket, dispute)
            )
        ]
    # Reopened: once per case, by the previous reopen of the case.
    bucket = _bucket(Event.previous_at, marks)
    out.once += [
        ["reopen", b, d, n]
        for b, d, n in read(
            select(bucket, dispute, func.count())
            .where(Event.action == "reopen", *in_range, _first_since(Event.previous_at, start))
            .group_by(bucket, dispute)
        )
    ]
    # Accept, resolve and close: one read each gives the counts, the hours from the report,
    # and "handled" (an event first of any counted action in a range is first of its own
    # action too, so these rows hold every one).
    counted = Event.previous_counted_at
    handled = sql_case(
        (counted.is_(None), 0), (counted >= start, -1), else_=_bucket(counted, marks)
    )
    bucket = _bucket(Event.previous_at, marks)
    for action in COUNTED_ACTIONS:
        counts, handled_counts = Counter(), Counter()
        seconds: dict[str, list[int]] = defaultdict(list)
        for b, d, h, value in raw_rows(
            read(
                select(bucket, dispute, handled, Event.seconds_since_report).where(
                    Event.action == action, *in_range, _first_since(Event.previous_at, start)
                )
            )
        ):
            counts[b, d] += 1
            seconds[str(b)].append(value)
            if h >= 0:
                handled_counts[h, d] += 1
        out.once += [[action, b, d, n] for (b, d), n in counts.items()]
        out.once += [["handled", h, d, n] for (h, d), n in handled_counts.items()]
        # Sorted: a period's median is found by bisecting its months' runs.
        out.seconds[action] = {b: sorted(values) for b, values in seconds.items()}
    # On time: each status change against the step clock it ran on (a merge ends a
    # duplicate, which counts nowhere).
    # Naming every step lets the index (step, at, ...) give each step's range in order; the
    # IS NOT NULL stays, as SQLite uses the partial index only when a query says so.
    out.on_time = {
        step: [int(kept or 0), n]
        for step, kept, n in read(
            select(
                Event.step,
                func.sum(sql_case((Event.at <= Event.step_due_at, 1), else_=0)),
                func.count(),
            )
            .where(
                Event.step.in_([s.value for s in Step]),
                Event.step.is_not(None),
                *in_range,
                Event.action != "merge",
            )
            .group_by(Event.step)
        )
    }
    out.follow_ups = [
        list(row)
        for row in read(
            select(Event.action, Event.result, func.count())
            .where(Event.action.in_(("record_visit", "answer_follow_up")), *in_range)
            .group_by(Event.action, Event.result)
        )
    ]
    return out


def received_rows(
    start: datetime,
    end: datetime,
    *,
    village_id: int | tuple | None = None,
    category_ids: list[int] | None = None,
) -> list[tuple]:
    """(source, category, village, n) of the reports received in [start, end), not merged."""
    where = [
        Case.status != CaseStatus.MERGED,
        Case.created_at >= start,
        Case.created_at < end,
        *counted_scope(village_id, category_ids),
    ]
    return raw_rows(
        db.session.connection().execute(
            select(Case.source, Case.category_id, Case.village_id, func.count())
            .where(*where)
            .group_by(Case.source, Case.category_id, Case.village_id)
        )
    )


@dataclass
class Received:
    """The reports received in a range, added up by source, category and village (the
    dashboard shows each apart): from the cases, or as the sweep kept a month's.

    A month the sweep keeps holds each town's reports by source and by category as well
    (`by_town`; by village they are the villages' own), so that a town of a district reads
    its year from the twelve kept months too (`of_town`), as the district does: counted
    from the cases, a town's year took twelve reads of its month's reports (25 ms each on
    SQLite at 1M cases, ten towns)."""

    by_source: Counter = field(default_factory=Counter)
    by_category: Counter = field(default_factory=Counter)
    by_village: Counter = field(default_factory=Counter)
    by_town: dict[int, tuple[Counter, Counter]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_category.values())

    @classmethod
    def of_rows(cls, rows: list[tuple], town_of: dict[int, int] | None = None) -> Received:
        """From received_rows' (source, category, village, n); with `town_of` (each
        village's town), each town's by source and by category too."""
        out = cls()
        for source, category_id, village, n in rows:
            out.by_source[source] += n
            out.by_category[category_id] += n
            out.by_village[village] += n
            if town_of is not None:
                sources, categories = out.by_town.setdefault(
                    town_of[village], (Counter(), Counter())
                )
                sources[source] += n
                categories[category_id] += n
        return out

    def add(self, other: Received) -> None:
        self.by_source.update(other.by_source)
        self.by_category.update(other.by_category)
        self.by_village.update(other.by_village)
        for town, (sources, categories) in other.by_town.items():
            mine = self.by_town.setdefault(town, (Counter(), Counter()))
            mine[0].update(sources)
            mine[1].update(categories)

    def as_json(self) -> dict:
        # JSON keys are text: the ids are written as text and read back as numbers.
        out = {
            "source": dict(self.by_source),
            "category": {str(k): n for k, n in self.by_category.items()},
            "village": {str(k): n for k, n in self.by_village.items()},
        }
        if self.by_town:
            out["towns"] = {
                str(town): {
                    "source": dict(sources),
                    "category": {str(k): n for k, n in categories.items()},
                }
                for town, (sources, categories) in self.by_town.items()
            }
        return out

    @classmethod
    def from_json(cls, stored: dict) -> Received:
        return cls(
            Counter(stored["source"]),
            Counter({int(k): n for k, n in stored["category"].items()}),
            Counter({int(k): n for k, n in stored["village"].items()}),
        )

    @classmethod
    def of_town(cls, stored: dict, town_id: int, villages: tuple) -> Received | None:
        """One town's reports of a kept month (`villages`: the town's); None for a month
        kept without its towns (by an older release: the sweep keeps it again)."""
        towns = stored.get("towns")
        if towns is None:
            return None
        mine = towns.get(str(town_id)) or {"source": {}, "category": {}}  # none: no report
        ids = set(villages)
        by_village = Counter({int(k): n for k, n in stored["village"].items() if int(k) in ids})
        by_category = Counter({int(k): n for k, n in mine["category"].items()})
        if by_village.total() != by_category.total():
            return None  # a village moved to or from the town since: counted from the cases
        return cls(Counter(mine["source"]), by_category, by_village)


def received(start: datetime, end: datetime, *, by_town: bool = False, **scope) -> Received:
    """The reports received in [start, end), not merged, counted from the cases; with
    `by_town`, each town's too (as a kept month holds them)."""
    rows = received_rows(start, end, **scope)
    # Read after the count: a village made meanwhile has no report in it.
    town_of = (
        dict(db.session.execute(select(Village.id, Village.town_id)).all()) if by_town else None
    )
    return Received.of_rows(rows, town_of)


def raw_rows(result) -> list[tuple]:
    """A result's rows as the driver gives them: for tens of thousands of plain numbers,
    SQLAlchemy's row objects would cost more than the database's own work."""
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def kind_of(column, kinds: dict[int, int]):
    """SQL: the kind (HAZARD, DISPUTE, ENFORCEMENT) of the category in `column`."""
    of = {kind: [cid for cid, k in kinds.items() if k == kind] for kind in (DISPUTE, ENFORCEMENT)}
    return sql_case(
        (column.in_(of[DISPUTE] or [-1]), DISPUTE),
        (column.in_(of[ENFORCEMENT] or [-1]), ENFORCEMENT),
        else_=HAZARD,
    )


def month_partials(
    period: Period,
    kinds: dict[int, int],
    *,
    village_id: tuple | None = None,
    town_id: int | None = None,
) -> list[tuple[Partial, int, Received]]:
    """For each month of `period`: its partial (kept for the months that are over, counted
    for the others), the index of the period's start in its marks, and its reports. For a
    town of a district, its villages (`village_id`) and the town (`town_id`): its months
    are those the sweep keeps for it, and its reports its part of the deployment's kept
    reports (`Received.of_town`)."""
    if town_id is not None and village_id is None:
        raise ValueError("a town's months are counted over its villages: give village_id")
    now = clock.now()
    months = period.months()
    firsts = [date(y, m, 1) for y, m in months]
    kept, kept_received = {}, {}
    if town_id is not None:
        kept = dict(
            db.session.execute(
                select(TownMonthlyFigures.month, TownMonthlyFigures.partial).where(
                    TownMonthlyFigures.town_id == town_id,
                    TownMonthlyFigures.version == Partial.VERSION,
                    TownMonthlyFigures.month.in_(firsts),
                )
            ).all()
        )
    if village_id is None:
        kept = {
            row.month: row.partial
            for row in db.session.scalars(
                select(MonthlyFigures).where(
                    MonthlyFigures.version == Partial.VERSION, MonthlyFigures.month.in_(firsts)
                )
            )
        }
    if village_id is None or town_id is not None:
        # Kept as of the month's latest change only (else counted afresh below).
        kept_received = dict(
            db.session.execute(
                select(MonthlyReceived.month, MonthlyReceived.received).where(
                    MonthlyReceived.month.in_(firsts),
                    MonthlyReceived.kept_revision == MonthlyReceived.revision,
                    MonthlyReceived.received.is_not(None),
                )
            ).all()
        )
    out = []
    for i, (y, m) in enumerate(months):
        first, after = month(y, m).bounds
        if first > now:
            break
        marks = marks_of_month(date(y, m, 1))
        stored = kept.get(date(y, m, 1))
        partial = (
            Partial.from_json(stored)
            if stored is not None
            else count_range(first, after, marks, kinds=kinds, village_id=village_id)
        )
        stored_received = kept_received.get(date(y, m, 1))
        got = None
        if stored_received is not None:
            got = (
                Received.from_json(stored_received)
                if town_id is None
                else Received.of_town(stored_received, town_id, village_id)
            )
        out.append(
            (
                partial,
                len(marks) - 1 - i,
                got if got is not None else received(first, after, village_id=village_id),
            )
        )
    return out


# A month is kept this long after it ended: an event stamped just before midnight may
# still be waiting for the write lock, or its transaction be committing, at midnight.
KEEP_AFTER = timedelta(hours=1)


def keep_month_figures(*, limit: int = 24) -> int:
    """Compute and keep the partials of months that are over and have none, and their
    received reports (`keep_received`), and in a district each town's partials
    (`_keep_towns_months`); the sweep runs this. At most `limit` of each of the three at a
    time, newest first. Returns how many months were kept (the deployment's, either or
    both, and the towns').

    Each month is counted, then written and committed on its own: the counting only
    reads (on SQLite it holds no lock), the writing is one row (for its reports, one more).
    """
    now = clock.now()
    last = clock.month_of(now - KEEP_AFTER)  # the first month not kept
    oldest = db.session.scalar(select(func.min(Case.created_at)))
    if oldest is None:
        return 0
    first = clock.month_of(oldest)
    wanted, day = [], last
    while day > first and len(wanted) < limit * 4:
        day = (day - timedelta(days=1)).replace(day=1)
        wanted.append(day)
    # Every kept month of this version, read from the index of (version, month) alone: a
    # town's history holds a few hundred months at most. Asked for the wanted months by
    # name (month IN ...), SQLite chose the key's index and read each month's row, whose
    # figures fill overflow pages: 7.7 ms of a 16 ms quiet sweep at 1M cases over ten
    # years, against 0.3 ms at 100k over one, since the rows read grew with the months.
    have = set(wanted) & set(
        db.session.scalars(
            select(MonthlyFigures.month).where(MonthlyFigures.version >= Partial.VERSION)
        )
    )
    kinds = category_kinds()
    _forget_stale(MonthlyFigures)
    received_kept = keep_received(wanted, limit=limit)
    done = 0
    for day in wanted:
        if day in have:
            continue
        start, end = month(day.year, day.month).bounds
        partial = count_range(start, end, marks_of_month(day), kinds=kinds)
        if not _kept(MonthlyFigures(month=day, partial=partial.as_json(), computed_at=now)):
            continue
        done += 1
        received_kept.add(day)
        if done >= limit:
            break
    return len(received_kept) + _keep_towns_months(wanted, kinds, now, limit=limit)


def _keep_towns_months(wanted: list[date], kinds: dict[int, int], now, *, limit: int) -> int:
    """Keep the partials of the months `wanted` of each town that has none, where the
    deployment holds several towns (TownMonthlyFigures): at most `limit`, newest months
    first. Returns how many."""
    towns = db.session.scalars(select(Town.id).order_by(Town.id)).all()
    if len(towns) < 2:
        return 0  # a town alone: its figures are the deployment's
    table = TownMonthlyFigures
    _forget_stale(table)
    # From the index of (version, town, month) alone, as the deployment's months.
    have = {
        (town, day)
        for town, day in db.session.execute(
            select(table.town_id, table.month).where(table.version >= Partial.VERSION)
        )
    }
    missing = [(day, town) for day in wanted for town in towns if (town, day) not in have]
    if not missing:
        return 0
    villages: dict[int, list[int]] = defaultdict(list)  # a town made meanwhile: none yet
    for town, village in db.session.execute(select(Village.town_id, Village.id)):
        villages[town].append(village)
    done = 0
    for day, town in missing:
        start, end = month(day.year, day.month).bounds
        partial = count_range(
            start, end, marks_of_month(day), kinds=kinds, village_id=tuple(villages[town])
        )
        if not _kept(table(town_id=town, month=day, partial=partial.as_json(), computed_at=now)):
            continue
        done += 1
        if done >= limit:
            break
    return done


def _forget_stale(model) -> None:
    """Delete the kept months of an older Partial.VERSION (counted again by the sweep; a
    newer one's rows stay), asked first from the (version, ...) index."""
    if db.session.scalar(select(func.count()).where(model.version < Partial.VERSION)):
        db.session.execute(delete(model).where(model.version < Partial.VERSION))
        db.session.commit()


def _kept(row) -> bool:
    """Keep a month's counted partial (of this version) and commit; False if another
    sweep kept the same month meanwhile (the same figures)."""
    row.version = Partial.VERSION
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        return False
    db.session.commit()
    return True


def keep_received(wanted: list[date], *, limit: int) -> set[date]:
    """Keep the received reports of the months `wanted` (months that are over) that have
    none kept, or were changed since (a later revision): at most `limit`. Returns them.

    Each month's revision is read first, then its reports counted (holding no lock), then
    kept as of that revision: a merge or a re-categorisation committed after the read
    counts a later revision, so the month is counted afresh until the next sweep keeps
    it again; one committed before it is in the count (MonthlyReceived). Counting under
    the row's lock instead held SQLite's write lock, and every writer, for the count."""
    table = MonthlyReceived.__table__
    revisions = {
        day: (revision, kept)
        for day, revision, kept in db.session.execute(
            select(table.c.month, table.c.revision, table.c.kept_revision).where(
                table.c.month.in_(wanted)
            )
        )
    }
    done: set[date] = set()
    for day in wanted:
        revision, kept = revisions.get(day, (0, None))
        if kept == revision:
            continue
        start, end = month(day.year, day.month).bounds
        row = insert_for(table).values(
            month=day,
            revision=0,
            kept_revision=revision,
            received=received(start, end, by_town=True).as_json(),
        )
        db.session.execute(
            row.on_conflict_do_update(
                index_elements=["month"],
                set_={"received": row.excluded.received, "kept_revision": revision},
            )
        )
        db.session.commit()
        done.add(day)
        if len(done) >= limit:
            break
    return done


def category_kinds() -> dict[int, int]:
    """Each category's kind for the counts: dispute, enforcement or (any other) hazard."""
    kind = {CategoryGroup.DISPUTE: DISPUTE, CategoryGroup.ENFORCEMENT: ENFORCEMENT}
    return {
        cid: kind.get(group, HAZARD)
        for cid, group in db.session.execute(select(Category.id, Category.group))
    }
