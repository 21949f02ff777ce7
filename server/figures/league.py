"""The month's league tables (考核): each department, village and grid worker judged on
the same measures as the 12345 hotline's and 数字城管's monthly 考核通报, ranked.

A month is a calendar month on the town's clock (Asia/Shanghai, `periods.month`).
Every measure is counted by the database, grouped by the unit (one GROUP BY per measure
and kind of unit, never a loop over cases), from the events of the case file:

- 按时签收率 (on-time sign-for): sign-for steps that ended in the month (a `sign_for`
  event) no later than the due time they ran against (`step_due_at`, working days and
  holidays already in it) / those steps, plus sign-for steps still open whose due time
  passed in the month (counted late there, as the dashboard counts them: a step is
  counted once, in the month it ended or, still open, the month it went late).
  A reassignment or a recall cuts a step short and counts it nowhere (`ends_step`).
- 按时办结率 (on-time resolve): the same for the handling step, ended by `resolve`;
  an approved extension's new due time is the one it ran against.
- 延期率 (extensions): extensions asked for in the month / cases resolved in the month.
- 退回率 (returns): returns asked for in the month / cases dispatched to the department
  as lead in the month (a dispatch or a reassignment).
- 重开率 (reopens, the hotline's 重办率): cases reopened in the month / cases resolved in
  the month, each case once.
- 满意率 (satisfaction): 满意 and 基本满意 / every answer heard in the month (a follow-up
  visit's, or the reporter's own).
- 排查 (screening duty): screenings filed in the month, against the monthly duty.

Whose is a count: a department's are the events of its members (who sign for, resolve,
ask for extensions and returns: the lead department's handlers), the open steps of the
cases it leads, and the reopens and answers of the cases it resolved last (the
department of the last resolve before); a village's are those of its cases; a grid
worker's those of the cases in the grids they look after, and the screenings they filed.
The screening duty is judged for villages and grid workers, not departments.

Rates with no cases are "—" (never 0% or 100%) and count for nothing. A rate counted on
fewer cases than its standard's `min_sample` is shown but neither scored nor judged. The
score is the weighted mean of the judged measures (a "lower is better" rate scores
1 − rate; the screening duty scores the share of it done), out of 100; units with equal
scores (to 0.1) share a rank, and a unit with nothing judged is listed unranked. A unit
passes (达标) when each judged measure meets its pass mark.

The standards (weights, pass marks, smallest samples) are the system admin's, stored in
`league_standard`: the district's, which every town follows, or a town's own set where
its admin judges its units otherwise (a district's tables, of every town, are judged by
the district's); `DEFAULTS` start from the 12345 hotlines' common measures (签收率 /
按时签收率, 按时办结率, 满意率, 重办率, 退回率, 延期率) at the marks such 考核 commonly set:
a starting point for the town to change, not a rule of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case as sql_case
from sqlalchemy import delete, distinct, func, or_, select, text
from sqlalchemy.orm import aliased

from server.db import db
from server.figures.partials import villages_scope
from server.figures.periods import Period
from server.figures.statistics import town_villages
from server.infra import clock
from server.infra.errors import ValidationFailed
from server.models import (
    Case,
    CaseAssignment,
    CaseEvent,
    CaseStatus,
    Department,
    Grid,
    LeagueStandard,
    Role,
    Screening,
    Step,
    Town,
    User,
    Village,
)
from server.models.organisation import user_grid
from server.models.places import in_service_since
from server.organisation.management import settings_place, settings_town
from server.trust import audit

DEPARTMENT, VILLAGE, GRID_WORKER = "department", "village", "grid_worker"
KIND_LABELS = {DEPARTMENT: "部门", VILLAGE: "村", GRID_WORKER: "网格员"}
ALL_KINDS = frozenset(KIND_LABELS)
SATISFIED = ("satisfied", "basically_satisfied")


@dataclass(frozen=True)
class Measure:
    """One measure of the tables: how it reads, which way is better, whom it judges."""

    key: str
    label: str
    higher_is_better: bool = True
    is_count: bool = False  # a number a month (screenings), not a rate
    kinds: frozenset[str] = ALL_KINDS


MEASURES: dict[str, Measure] = {
    m.key: m
    for m in (
        Measure("sign_for", "按时签收率"),
        Measure("resolve", "按时办结率"),
        Measure("satisfaction", "满意率"),
        Measure("reopen", "重开率", higher_is_better=False),
        Measure("return", "退回率", higher_is_better=False),
        Measure("extension", "延期率", higher_is_better=False),
        Measure("screening", "排查次数", is_count=True, kinds=frozenset({VILLAGE, GRID_WORKER})),
    )
}


@dataclass(frozen=True)
class Standard:
    """A measure's weight in the score, pass mark (a percentage; for the screening duty,
    screenings a month) and the fewest cases it is judged on."""

    weight: int
    pass_mark: float
    min_sample: int


DEFAULTS: dict[str, Standard] = {
    "sign_for": Standard(20, 95.0, 3),
    "resolve": Standard(30, 90.0, 3),
    "satisfaction": Standard(20, 90.0, 3),
    "reopen": Standard(10, 5.0, 3),
    "return": Standard(5, 10.0, 3),
    "extension": Standard(5, 10.0, 3),
    # The town's own duty: 每月不少于2次排查.
    "screening": Standard(10, 2.0, 0),
}


def standards(town_id: int | None = None) -> dict[str, Standard]:
    """The standards in force for `town_id`'s tables (None: the district's): the town's
    own set where it keeps one, else the district's rows over the defaults."""
    rows = db.session.scalars(
        select(LeagueStandard).where(
            or_(LeagueStandard.town_id.is_(None), LeagueStandard.town_id == town_id)
        )
    ).all()
    kept = {row.measure: _standard(row) for row in rows if row.town_id is None}
    kept |= {row.measure: _standard(row) for row in rows if row.town_id is not None}
    return {key: kept.get(key, default) for key, default in DEFAULTS.items()}


def _standard(row: LeagueStandard) -> Standard:
    return Standard(row.weight, row.pass_mark, row.min_sample)


def keeps_own(town_id: int | None) -> bool:
    """Whether `town_id` judges its units by a set of its own (not the district's)."""
    if town_id is None:
        return False
    return (
        db.session.scalar(
            select(LeagueStandard.id).where(LeagueStandard.town_id == town_id).limit(1)
        )
        is not None
    )


def towns_of_their_own() -> list[str]:
    """The names of the towns that keep standards of their own, for the district's page."""
    return list(
        db.session.scalars(
            select(Town.name)
            .where(select(LeagueStandard.id).where(LeagueStandard.town_id == Town.id).exists())
            .order_by(Town.id)
        )
    )


def set_standards(new: dict[str, Standard], *, actor: User, ip: str | None = None) -> None:
    """Replace the standards (every measure given) `actor` sets, checked, and audited with
    what changed: the district's, which every town follows unless it keeps its own, or,
    for a town's admin in a district of towns, their town's own set. A town's set is
    whole (the weights are shares of one score, so a town that changes one has weighed
    them all), and kept only while it differs from the district's."""
    if set(new) != set(DEFAULTS):
        raise ValidationFailed("考核标准须逐项填写。", code="invalid_standards")
    for key, item in new.items():
        label = MEASURES[key].label
        top = 31 if MEASURES[key].is_count else 100
        if not 0 <= item.weight <= 100:
            raise ValidationFailed(f"{label}的权重须在0到100之间。", code="invalid_standards")
        if not 0 <= item.pass_mark <= top:
            raise ValidationFailed(f"{label}的达标线须在0到{top}之间。", code="invalid_standards")
        if not 0 <= item.min_sample <= 1000:
            raise ValidationFailed(f"{label}的最少件数须在0到1000之间。", code="invalid_standards")
    if not any(item.weight for item in new.values()):
        raise ValidationFailed("至少一项的权重须大于0。", code="invalid_standards")
    town_id = settings_town(actor)
    before = standards(town_id)
    rows = {
        row.measure: row
        for row in db.session.scalars(select(LeagueStandard).where(_of_town(town_id)))
    }
    if town_id is not None and new == standards(None):
        for row in rows.values():
            db.session.delete(row)  # the district's values: the town follows it again
    else:
        now = clock.now()
        for key, item in new.items():
            row = rows.get(key) or LeagueStandard(town_id=town_id, measure=key)
            row.weight, row.pass_mark = item.weight, item.pass_mark
            row.min_sample = item.min_sample
            row.updated_at, row.updated_by_id = now, actor.id
            db.session.add(row)
    db.session.flush()
    # In words, as the auditor reads them (the audit page shows a detail as it is).
    changed = "；".join(
        f"{MEASURES[key].label}："
        + "，".join(
            f"{word}{getattr(before[key], name):g}→{getattr(item, name):g}"
            for name, word in (
                ("weight", "权重"),
                ("pass_mark", "达标线"),
                ("min_sample", "最少件数"),
            )
            if getattr(before[key], name) != getattr(item, name)
        )
        for key, item in new.items()
        if before[key] != item
    )
    audit.record(
        "league.standards_changed",
        actor=actor,
        object_type="league_standard",
        object_id="all",
        ip=ip,
        for_town=settings_place(town_id),
        standards=changed or "未改动",
    )


def follow_district(*, actor: User, ip: str | None = None) -> None:
    """Forget `actor`'s town's own standards: its tables follow the district's again."""
    town_id = settings_town(actor)
    if town_id is None:
        raise ValidationFailed("区里的考核标准就是各镇沿用的标准。", code="invalid_choice")
    db.session.execute(delete(LeagueStandard).where(LeagueStandard.town_id == town_id))
    audit.record(
        "league.follow_district",
        actor=actor,
        object_type="league_standard",
        object_id="all",
        ip=ip,
        for_town=settings_place(town_id),
    )


def _of_town(town_id: int | None):
    if town_id is None:
        return LeagueStandard.town_id.is_(None)
    return LeagueStandard.town_id == town_id


@dataclass
class Score:
    """One measure of one unit: part / whole (a count: part alone), and its judgement."""

    measure: Measure
    part: int = 0
    whole: int | None = 0  # None for a count
    judged: bool = False
    passed: bool | None = None

    @property
    def value(self) -> float | None:
        """The rate (None without cases), or the count."""
        if self.measure.is_count:
            return float(self.part)
        return self.part / self.whole if self.whole else None

    @property
    def shown(self) -> str:
        """As the table shows it: 95.0%, —, or 2次."""
        if self.measure.is_count:
            return f"{self.part}次"
        value = self.value
        return "—" if value is None else f"{value * 100:.1f}%"

    @property
    def counts(self) -> str:
        return "" if self.measure.is_count else f"{self.part}/{self.whole}"


@dataclass
class Row:
    """One unit's line of a table."""

    unit_id: int
    name: str
    note: str  # the department's kind, a grid worker's villages
    scores: dict[str, Score]
    score: float | None = None
    rank: int | None = None
    failed: list[str] = field(default_factory=list)  # what it fell short on, in words

    @property
    def judged(self) -> bool:
        return self.score is not None

    @property
    def passed(self) -> bool | None:
        return None if self.score is None else not self.failed


@dataclass
class Table:
    kind: str
    label: str
    measures: list[Measure]
    rows: list[Row]

    @property
    def ranked(self) -> list[Row]:
        return [row for row in self.rows if row.rank is not None]


@dataclass
class League:
    period: Period
    standards: dict[str, Standard]
    tables: dict[str, Table]
    received: int = 0
    town: dict[str, Score] = field(default_factory=dict)  # the whole town's rates


# --- counting ------------------------------------------------------------------------

E = CaseEvent
# The villages whose cases are counted: a town's (in a district of several), or None: all.
Villages = tuple[int, ...] | None


def _event_key(kind: str):
    """The unit an event counts for, and the joins that reach it."""
    if kind == DEPARTMENT:
        return User.department_id, [(User, User.id == E.actor_id)]
    if kind == VILLAGE:
        return E.village_id, []
    # A grid worker's: by the case's grid, handed to the grid's workers afterwards
    # (`_by_worker`); joined to user_grid in SQL, SQLite would start from the grids and
    # read every case of each.
    return Case.grid_id, [(Case, Case.id == E.case_id)]


def _case_key(kind: str):
    """The unit an open case counts for (a step gone late), and the joins."""
    if kind == DEPARTMENT:
        # `+ 0`: grouped by the bare column, SQLite walked every case in the order of the
        # lead department's index to spare itself a sort of a few hundred rows (2.6 s at
        # a million cases); so it reads the open cases' partial index (16 ms).
        return Case.lead_department_id + 0, []
    if kind == VILLAGE:
        return Case.village_id, []
    return Case.grid_id, []


def _grouped(key, joins, base, columns, where) -> dict[int, tuple]:
    query = select(key, *columns).select_from(base)
    for target, on in joins:
        query = query.join(target, on)
    rows = db.session.execute(query.where(*where).group_by(key))
    return {unit: tuple(int(v or 0) for v in values) for unit, *values in rows if unit is not None}


def _events(kind: str, columns, where) -> dict[int, tuple]:
    key, joins = _event_key(kind)
    return _grouped(key, joins, E, columns, where)


def _resolver_keyed(kind: str, columns, where, inner_columns) -> dict[int, tuple]:
    """Events counted for the department that last resolved their case (a reopen, an
    answer), or for its village or grid worker like any event."""
    if kind != DEPARTMENT:
        return _events(kind, columns(E), where)
    last = aliased(CaseEvent)
    by = aliased(User)
    resolver = (
        select(by.department_id)
        .select_from(last)
        .join(by, by.id == last.actor_id)
        .where(last.case_id == E.case_id, last.action == "resolve", last.at <= E.at)
        .order_by(last.at.desc(), last.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    # Grouped outside: PostgreSQL groups by no correlated subquery.
    inner = select(resolver.label("unit"), *inner_columns).where(*where).subquery()
    rows = db.session.execute(select(inner.c.unit, *columns(inner.c)).group_by(inner.c.unit))
    return {unit: tuple(int(v or 0) for v in values) for unit, *values in rows if unit is not None}


def _steps(
    kind: str, step: Step, action: str, start, end, until, villages: Villages
) -> dict[int, list[int]]:
    """{unit: [on time, all]} of the steps counted in the month (see the module's rules)."""
    ended = _events(
        kind,
        [func.sum(sql_case((E.at <= E.step_due_at, 1), else_=0)), func.count()],
        [
            E.step == step.value,
            E.step.is_not(None),
            E.action == action,
            E.at >= start,
            E.at < end,
            *villages_scope(E.village_id, villages, read="range"),
        ],
    )
    out = {unit: [kept, n] for unit, (kept, n) in ended.items()}
    if until > start:
        key, joins = _case_key(kind)
        late = _grouped(
            key,
            joins,
            Case,
            [func.count()],
            [
                Case.step == step,
                Case.due_at.is_not(None),
                Case.due_at >= start,
                Case.due_at < until,
                *villages_scope(Case.village_id, villages, read="range"),
            ],
        )
        for unit, (n,) in late.items():
            out.setdefault(unit, [0, 0])[1] += n
    return out


def _counts(
    kind: str, start: datetime, end: datetime, villages: Villages = None
) -> dict[str, dict[int, tuple[int, int]]]:
    """{measure: {unit: (part, whole)}} for one kind of unit and one month, counted on
    the cases of `villages` (a town's, in a district of several) or on every case (None).

    A town's tables count its own cases only, so that what they read grows with the town
    and not with the district: each event names its village, and the figures' index
    (action, at, category_id, village_id, ...) tests it before a row is read."""
    until = min(end, clock.now())
    in_month = [E.at >= start, E.at < end, *villages_scope(E.village_id, villages, read="range")]
    out: dict[str, dict[int, tuple[int, int]]] = {}
    out["sign_for"] = _steps(kind, Step.SIGN_FOR, "sign_for", start, end, until, villages)
    out["resolve"] = _steps(kind, Step.HANDLE, "resolve", start, end, until, villages)
    resolved = _events(kind, [func.count(distinct(E.case_id))], [E.action == "resolve", *in_month])
    extensions = _events(kind, [func.count()], [E.action == "request_extension", *in_month])
    returns = _events(kind, [func.count()], [E.action == "return", *in_month])
    # Read from the lead assignments' index (the case's village is copied on each), the
    # case visited only for its grid.
    key, joins = {
        DEPARTMENT: (CaseAssignment.department_id, []),
        VILLAGE: (CaseAssignment.case_village_id, []),
    }.get(kind, (Case.grid_id, [(Case, Case.id == CaseAssignment.case_id)]))
    dispatched = _grouped(
        key,
        joins,
        CaseAssignment,
        [func.count()],
        [
            # Literal, as the partial index says it: a generic plan of a bound value
            # (PostgreSQL's prepared statements) could not use the index.
            text("case_assignment.role = 'lead'"),
            CaseAssignment.assigned_at >= start,
            CaseAssignment.assigned_at < end,
            *villages_scope(CaseAssignment.case_village_id, villages, read="range"),
        ],
    )
    reopened = _resolver_keyed(
        kind,
        lambda c: [func.count(distinct(c.case_id))],
        [E.action == "reopen", *in_month],
        [E.case_id],
    )
    answers = _resolver_keyed(
        kind,
        lambda c: [
            func.sum(sql_case((c.result.in_(SATISFIED), 1), else_=0)),
            func.count(),
        ],
        [E.action.in_(("record_visit", "answer_follow_up")), E.result.is_not(None), *in_month],
        [E.result],
    )

    def over(parts, wholes):
        units = set(parts) | set(wholes)
        return {u: (parts.get(u, (0,))[0], wholes.get(u, (0,))[0]) for u in units}

    out["extension"] = over(extensions, resolved)
    out["return"] = over(returns, dispatched)
    out["reopen"] = over(reopened, resolved)
    out["satisfaction"] = dict(answers)
    if kind == GRID_WORKER:
        out = {key: _by_worker(units) for key, units in out.items()}
    if kind != DEPARTMENT:
        owner = Screening.village_id if kind == VILLAGE else Screening.user_id
        out["screening"] = {
            unit: (n, None)
            for unit, (n,) in _grouped(
                owner,
                [],
                Screening,
                [func.count()],
                [
                    Screening.screened_at >= start,
                    Screening.screened_at < end,
                    *villages_scope(Screening.village_id, villages, read="seek"),
                ],
            ).items()
        }
    return {k: {u: tuple(v) for u, v in units.items()} for k, units in out.items()}


def _by_worker(by_grid: dict) -> dict[int, tuple[int, int]]:
    """Counts by grid as counts by grid worker (a worker of several grids adds them up)."""
    out: dict[int, list[int]] = {}
    for user_id, grid_id in db.session.execute(select(user_grid.c.user_id, user_grid.c.grid_id)):
        if grid_id in by_grid:
            total = out.setdefault(user_id, [0, 0])
            part, whole = by_grid[grid_id]
            total[0] += part
            total[1] += whole
    return {user: tuple(pair) for user, pair in out.items()}


def _units(kind: str, start: datetime, town_id: int | None) -> list[tuple[int, str, str]]:
    """(id, name, note) of every unit of `kind` the month judges: a town's own (`town_id`),
    or every town's and the district's (None)."""
    if kind == DEPARTMENT:
        town = [] if town_id is None else [Department.town_id == town_id]
        rows = db.session.execute(
            select(Department.id, Department.name, Department.kind)
            .where(Department.active.is_(True), *town)
            .order_by(Department.kind, Department.name)
        )
        return [(i, name, kind_.label) for i, name, kind_ in rows]
    if kind == VILLAGE:
        town = [] if town_id is None else [Village.town_id == town_id]
        rows = db.session.execute(
            select(Village.id, Village.name)
            .where(in_service_since(start), *town)
            .order_by(Village.code)
        )
        return [(i, name, "") for i, name in rows]
    places: dict[int, list[str]] = {}
    for user_id, village in db.session.execute(
        select(user_grid.c.user_id, Village.name)
        .join(Grid, Grid.id == user_grid.c.grid_id)
        .join(Village, Village.id == Grid.village_id)
        .order_by(Village.code)
    ):
        names = places.setdefault(user_id, [])
        if village not in names:
            names.append(village)
    town = [] if town_id is None else [User.town_id == town_id]
    rows = db.session.execute(
        select(User.id, User.display_name)
        .where(User.role == Role.GRID_WORKER, User.active.is_(True), *town)
        .order_by(User.username)
    )
    return [(i, name, "、".join(places.get(i, []))) for i, name in rows]


# --- judging -------------------------------------------------------------------------


def judge(score: Score, standard: Standard) -> None:
    """Whether `score` is judged, and whether it meets `standard`'s pass mark."""
    m = score.measure
    if m.is_count:
        score.judged = True
        score.passed = score.part >= standard.pass_mark
        return
    score.judged = bool(score.whole) and score.whole >= max(1, standard.min_sample)
    if not score.judged:
        score.passed = None
    elif m.higher_is_better:  # in whole numbers: no 94.99999% against 95
        score.passed = score.part * 100 >= standard.pass_mark * score.whole
    else:
        score.passed = score.part * 100 <= standard.pass_mark * score.whole


def _points(score: Score, standard: Standard) -> float:
    """What a judged measure gives the score, 0 to 1."""
    m = score.measure
    if m.is_count:
        return 1.0 if standard.pass_mark <= 0 else min(1.0, score.part / standard.pass_mark)
    value = score.value or 0.0
    return value if m.higher_is_better else max(0.0, 1.0 - value)


def score_row(row: Row, rules: dict[str, Standard]) -> None:
    """Judge each of `row`'s measures, and give it its score and what it fell short on."""
    total = weights = 0.0
    row.failed = []
    for key, score in row.scores.items():
        rule = rules[key]
        judge(score, rule)
        if not score.judged:
            continue
        if rule.weight:
            total += rule.weight * _points(score, rule)
            weights += rule.weight
        if score.passed is False:
            row.failed.append(_shortfall(score, rule))
    row.score = round(100 * total / weights, 1) if weights else None


def _shortfall(score: Score, rule: Standard) -> str:
    m = score.measure
    if m.is_count:
        return f"排查{score.part}次，少于{rule.pass_mark:g}次"
    side = "低于" if m.higher_is_better else "高于"
    return f"{m.label}{score.shown}，{side}{rule.pass_mark:g}%"


def rank(rows: list[Row]) -> list[Row]:
    """Ranked by score (equal scores share a rank: 1, 1, 3), then the unranked; ties and
    the unranked in the table's own order."""
    judged = sorted((r for r in rows if r.score is not None), key=lambda r: -r.score)
    for row in judged:
        row.rank = 1 + sum(1 for other in judged if other.score > row.score)
    return judged + [r for r in rows if r.score is None]


def compute(
    period: Period, rules: dict[str, Standard] | None = None, *, town_id: int | None = None
) -> League:
    """The league tables of `period` (a month), under `rules` (the standards in force):
    a town's own departments, villages and grid workers, ranked among themselves
    (`town_id`), or the district's, every town's (None)."""
    rules = rules or standards(town_id)
    start, end = period.bounds
    league = League(period, rules, {})
    # A town's cases, in a district of several (its retired villages' too); else all.
    villages = town_villages(town_id)
    for kind, label in KIND_LABELS.items():
        counts = _counts(kind, start, end, villages)
        measures = [m for m in MEASURES.values() if kind in m.kinds]
        rows = []
        units = _units(kind, start, town_id)
        for unit, name, note in units:
            scores = {}
            for m in measures:
                part, whole = counts.get(m.key, {}).get(unit, (0, None if m.is_count else 0))
                scores[m.key] = Score(m, part, whole)
            row = Row(unit, name, note, scores)
            score_row(row, rules)
            rows.append(row)
        league.tables[kind] = Table(kind, label, measures, rank(rows))
        if kind == VILLAGE:  # every case has one village: the villages add up to the town
            for m in measures:
                if m.is_count:
                    continue
                pairs = counts[m.key].values()  # the town's villages', retired ones too
                league.town[m.key] = Score(m, sum(p for p, _ in pairs), sum(w for _, w in pairs))
    league.received = _received(start, end, villages)
    return league


def _received(start: datetime, end: datetime, villages: Villages) -> int:
    """The reports received in the month (merged duplicates aside), of `villages`."""
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Case)
            .where(
                Case.created_at >= start,
                Case.created_at < end,
                Case.status != CaseStatus.MERGED,
                *villages_scope(Case.village_id, villages, read="test"),
            )
        )
        or 0
    )


# --- the month's 通报 ----------------------------------------------------------------


def bulletin(league: League) -> list[str]:
    """The month's 考核通报 as the town writes it, paragraph by paragraph, from the numbers."""
    town = league.town
    label = league.period.label

    def rate(key: str) -> str:
        score = town.get(key)
        return "—" if score is None else score.shown

    paragraphs = [
        f"{label}，全镇共收到各类报告{league.received}件次；"
        f"应签收{town['sign_for'].whole}件，按时签收{town['sign_for'].part}件，"
        f"按时签收率{rate('sign_for')}；应办结{town['resolve'].whole}件，"
        f"按时办结{town['resolve'].part}件，按时办结率{rate('resolve')}；"
        f"回访群众{town['satisfaction'].whole}人次，满意率{rate('satisfaction')}；"
        f"重开{town['reopen'].part}件，重开率{rate('reopen')}；"
        f"申请退回{town['return'].part}件，申请延期{town['extension'].part}件。"
    ]
    for kind, table in league.tables.items():
        who = KIND_LABELS[kind]
        ranked = table.ranked
        if not ranked:
            paragraphs.append(f"本月各{who}均无可考核事项。")
            continue
        top = [r for r in ranked if r.rank <= 3]
        head = "、".join(f"{r.name}（{r.score:.1f}分）" for r in top)
        failed = [r for r in ranked if r.failed]
        lead = "排名前三的是" if len(ranked) > 3 else "排名依次为"
        text = f"{who}考核：{len(ranked)}个{who}参与排名，{lead}{head}"
        if failed:
            items = "；".join(f"{r.name}（{'，'.join(r.failed)}）" for r in failed)
            text += f"；未达标的有{items}，予以通报。"
        else:
            text += "；各参与排名的" + who + "均达到考核标准。"
        paragraphs.append(text)
    paragraphs.append("请未达标的单位和个人认真查找原因，限期整改，并于下月联席会上报告整改情况。")
    return paragraphs


# --- the workbook ----------------------------------------------------------------------


def write_workbook(league: League, target) -> None:
    """The month's tables as an Excel workbook, a sheet each, with the 通报 and the
    standards: rates as numbers (shown as percentages), "—" where there is none."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    from server.figures import cells

    book = Workbook(write_only=True)
    bold = Font(bold=True)

    def heading(sheet, values):
        row = []
        for value in values:
            cell = WriteOnlyCell(sheet, value=value)
            cell.font = bold
            row.append(cell)
        sheet.append(row)

    for table in league.tables.values():
        sheet = book.create_sheet(f"{table.label}考核")
        sheet.append(cells.row(sheet, [f"{league.period.label}{table.label}考核排名"]))
        columns = ["排名", "名称", "说明"]
        for m in table.measures:
            columns += [m.label] if m.is_count else [m.label, f"{m.label}(件)"]
        heading(sheet, [*columns, "得分", "考核结果", "未达标项"])
        for row in table.rows:
            values: list = [row.rank, row.name, row.note]
            for m in table.measures:
                score = row.scores[m.key]
                if m.is_count:
                    values.append(score.part)
                    continue
                value = score.value
                if value is None:
                    values += ["—", score.counts]
                else:
                    cell = WriteOnlyCell(sheet, value=value)
                    cell.number_format = "0.0%"
                    values += [cell, score.counts]
            result = {True: "达标", False: "未达标", None: "不参与排名"}[row.passed]
            values += [row.score, result, "；".join(row.failed)]
            sheet.append(cells.row(sheet, values))  # a rate's cell passes as it is
    sheet = book.create_sheet("考核通报")
    sheet.append(cells.row(sheet, [f"{league.period.label}考核通报"]))
    for paragraph in bulletin(league):
        sheet.append(cells.row(sheet, [paragraph]))
    sheet = book.create_sheet("考核标准")
    heading(sheet, ["考核项", "权重", "达标线", "最少件数"])
    for key, rule in league.standards.items():
        m = MEASURES[key]
        mark = (
            f"≥{rule.pass_mark:g}次"
            if m.is_count
            else (f"{'≥' if m.higher_is_better else '≤'}{rule.pass_mark:g}%")
        )
        sheet.append(cells.row(sheet, [m.label, rule.weight, mark, rule.min_sample]))
    book.save(target)
