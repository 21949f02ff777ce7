"""One seeder for every benchmark: N cases of a town's years, written in bulk.

`bulk_seed(N)` adds N cases to the demo town already in the database (benchmarks/town.py
`demo_town`), each with the rows the app would have written for it, so that whatever a
benchmark reads (the queue, the figures, search, a handler's lists) reads a town's history:

- the case (`case_file`), received over `years` years in id order, most long closed, some
  rejected or merged; about `open_share` of them open at a running step (待受理 … 待回访)
  with its clock, the older of them overdue and chased by the sweep (督办); some urgent,
  some awaiting the center's review (a return or an extension asked for, a complaint);
  every CHECK constraint of the table holds;
- its timeline (`case_event`) as `server.cases.workflow` writes it: each action's from and
  to status, actor and role, note and data, the step clock it ran against, and the facts
  the figures count by (previous_at, previous_result_at, previous_counted_at, village,
  category, seconds since the report, result), kept from the case's own memory of its
  timeline (`Case.last_events`, written too) exactly as `workflow.events.new_event` keeps
  them; the sweep's supervise and chase events where a step went past its due time;
- the departments' shares (`case_assignment`) of every dispatched case: the lead the
  routing table names for its category and village (a village's disputes sometimes go to
  the justice office), sometimes its co-handlers, each due when the handling clock says,
  signed for, ended at the close or a reopening; so a department's handlers see the cases
  sent to it, by the one access policy;
- parties of the disputes (a few the same two people as a recent dispute: 重复纠纷), the
  search words (`case_search`, as `server.cases.search.body_of` makes them) and the keyed
  digests of informants' and parties' phones and names; villagers' reports have a
  tracking code (`tracking_secret`) and named informants a phone (`phone`).

Step clocks come from the town's own time limits on its working calendar (the same
limits and working days as `server.organisation.deadlines`), in whole seconds.

Deterministic: the same database, `seed` and `towns_now` give the same rows, ids
included, except the sealed informant identities (Fernet draws a fresh IV each time),
which unseal to the same values. Each batch of BATCH cases is drawn from a stream of
random numbers of its own, so it comes out the same whichever process makes it.

Fast: the rows are made as tuples (for a large seed by two forked child processes, a
batch each in turn, while this one writes the batches before) and go in by executemany
on SQLite and by COPY on PostgreSQL, in one transaction. For the load, the seeded tables'
secondary indexes (and SQLite's search triggers, PostgreSQL's foreign keys) are dropped,
and made again afterwards from the database's own definitions; adding PostgreSQL's
foreign keys back checks every row. SQLite, for which checking each row as it is written
costs more than writing it, loads with its foreign keys and CHECK constraints off, and
then checks every seeded row against each of them, in one pass a table: a row that breaks
one fails the seed, and nothing is committed. SQLite also loads with synchronous off and,
when it is the file's only connection, its rollback journal in memory (a database being
seeded is thrown away if the machine fails), then goes back to the app's WAL and
synchronous=FULL; its full-text index is rebuilt once. PostgreSQL's sequences are set
past the seeded ids. Both are analysed (PostgreSQL vacuumed too: its index-only scans
need the visibility map).

    .venv/bin/python benchmarks/seed.py --cases 1000000 --database-url URL [--seed 7]
        [--years 5] [--open-share 0.03] [--now 2026-12-01T08:00:00+08:00]

migrates the database, loads the demo town when it is empty, seeds and prints a summary.
Measured 2026-12-06 on this 2-core machine, shared with other work (load average 3 to 4),
1,000,000 cases (8.3 million events, 1.4 million assignments, 1.2 million parties):
SQLite 3.40 seeded in 209 s (the whole command 212 s, at most 2.2 GB of memory), a file
of 5.7 GiB; PostgreSQL 15 in 207 s (210 s), a database of 5.5 GiB. One report at a time,
as the benchmarks once seeded, a million took 1,941 s.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import sqlite3
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from flask import current_app
from sqlalchemy import delete, func, select, text

from server.cases import repeats, search, tracking
from server.cases.workflow import ACTIONS, SYSTEM_ACTIONS
from server.cases.workflow.table import COUNTED_ACTIONS
from server.db import db
from server.infra import clock, codes
from server.models import (
    Category,
    CategoryGroup,
    Department,
    DepartmentKind,
    Grid,
    MonthlyFigures,
    MonthlyReceived,
    Role,
    Step,
    Town,
    TownMonthlyFigures,
    User,
    Village,
)
from server.organisation import reference
from server.organisation.deadlines import Deadlines, parse_duration
from server.organisation.routing import route
from server.trust import identity

CASE_COLUMNS = (
    "id", "code", "source", "village_id", "town_id", "grid_id", "category_id", "severity",
    "risk_level", "people_involved", "group_dispute", "criminal_risk", "urgent", "happening_now",
    "repeat_dispute", "description", "place_text", "reporter_anonymous", "reporter_name",
    "reporter_phone", "reporter_consent", "held_as_spam", "tracking_hash", "created_by_id",
    "status", "lead_department_id", "handler_id", "step", "step_started_at", "warn_at",
    "due_at", "clock_alert", "extension_requested_until", "return_requested_at",
    "complaint_at", "supervised", "escalated", "satisfaction", "result_code", "result_text",
    "rejection_reason", "merged_into_id", "closing_reason", "created_at", "updated_at",
    "accepted_at", "resolved_at", "closed_at", "last_events", "version",
)  # fmt: skip
EVENT_COLUMNS = (
    "id", "case_id", "action", "from_status", "to_status", "at", "actor_id", "actor_role",
    "note", "data", "internal", "step", "step_due_at", "previous_at", "previous_result_at",
    "previous_counted_at", "village_id", "category_id", "seconds_since_report", "result",
)  # fmt: skip
ASSIGNMENT_COLUMNS = (
    "id", "case_id", "department_id", "role", "assigned_at", "due_at", "signed_at",
    "feedback", "feedback_at", "ended_at", "case_created_at", "case_open", "case_status",
    "case_village_id",
)  # fmt: skip
PARTY_COLUMNS = ("id", "case_id", "side", "kind", "name", "phone", "name_key", "phone_key")
SEARCH_COLUMNS = ("case_id", "body")
DIGEST_COLUMNS = ("id", "case_id", "kind", "digest")
# In the order they are written: a row's references are written before it.
TABLES = {
    "case_file": CASE_COLUMNS,
    "case_event": EVENT_COLUMNS,
    "case_assignment": ASSIGNMENT_COLUMNS,
    "case_party": PARTY_COLUMNS,
    "case_search": SEARCH_COLUMNS,
    "case_identity_digest": DIGEST_COLUMNS,
}
# Tables whose ids the seeder assigns (case_search is keyed by its case); the rows of all
# but case_file are made without theirs and numbered as they are written.
NUMBERED = ("case_file", "case_event", "case_assignment", "case_party", "case_identity_digest")
ROW_NUMBERED = NUMBERED[1:]

BATCH = 20_000  # cases a batch: big enough for executemany and COPY, small in memory

# How a town's reports come in, and how they end.
SOURCES = ["grid_worker"] * 50 + ["qr"] * 40 + ["walk_in"] * 6 + ["hotline"] * 4
GROUP_WEIGHTS = {
    CategoryGroup.DISPUTE: 60,
    CategoryGroup.SAFETY_HAZARD: 20,
    CategoryGroup.ENFORCEMENT: 12,
    CategoryGroup.SECURITY_HAZARD: 8,
}
REJECT_SHARE = 0.02
MERGE_SHARE = 0.01
HAPPENING_SHARE = 0.004  # 正在发生: urgent whatever the category
REOPEN_SHARE = 0.02  # a visit finds the problem back; the case is handled again
LATE_SHARE = 0.03  # a step that ends after its due time
CO_SHARE = 0.4  # dispatched with the co-handlers routing names
JUSTICE_SHARE = 0.2  # a village's dispute sent straight to the justice office
NAMED_SHARE = 0.3  # informants who gave a name and phone
ESCALATE_SHARE = 0.003
CRIMINAL_SHARE = 0.01
REPEAT_SHARE = 0.01  # disputes between the same two parties as a recent one
ANSWER_SHARE = 0.4  # villagers who answer the follow-up on their tracking page
# Where an open case waits, when it has waited longer than its path would take.
STALLS = {"accept": 10, "dispatch": 10, "sign_for": 10, "resolve": 50, "verify": 5, "close": 15}
RISKS = ["yellow"] * 7 + ["orange"] * 2 + ["red"]
SEVERITIES = ["general"] * 17 + ["larger"] * 2 + ["major"]
SATISFACTIONS = ["satisfied"] * 14 + ["basically_satisfied"] * 4 + ["dissatisfied"] + [None]

# Actions that leave the status and the clock alone, and how long after the last one
# they come (at most, in seconds).
ASIDE = {
    "record_visit": 3 * 86400,
    "answer_follow_up": 2 * 86400,
    "confirm_result": 86400,
    "return": 2 * 86400,
    "request_extension": 3 * 86400,
    "escalate": 86400,
}
# Where each action leads, which count in the figures, which the reporter never sees
# (the workflow's own table; the sweep's events are internal too).
STATUS_AFTER = {action: t.to.value for action, t in ACTIONS.items() if t.to is not None}
COUNTED = frozenset(COUNTED_ACTIONS)
INTERNAL = frozenset({a for a, t in ACTIONS.items() if t.internal} | set(SYSTEM_ACTIONS))

# Results by kind of case: (result code, closing reason, visit outcome), weighted.
DISPUTE_RESULTS = (
    [("mediated", "resolved", "kept")] * 80
    + [("mediation_failed", "referred_litigation", "gone")] * 12
    + [("referred_elsewhere", "referred_elsewhere", "gone")] * 4
    + [("no_action_needed", "no_further_action", "gone")] * 4
)
HAZARD_RESULTS = (
    [("hazard_removed", "resolved", "gone")] * 85
    + [("referred_police", "referred_elsewhere", "gone")] * 5
    + [("referred_elsewhere", "referred_elsewhere", "gone")] * 5
    + [("no_action_needed", "no_further_action", "gone")] * 5
)
RESULT_TEXT = {
    "mediated": "已到现场调解，双方达成一致意见并签订调解协议。",
    "mediation_failed": "经多次调解未能达成一致，已引导当事人通过诉讼或仲裁解决。",
    "referred_elsewhere": "经核实不属于本部门职责，已移交有关部门处理。",
    "referred_police": "涉嫌违法犯罪，已移交公安机关处理。",
    "no_action_needed": "经现场核实，情况已自行消除，无需处置。",
    "hazard_removed": "已到现场核实，隐患已整改消除。",
}
NOTES = {
    "reject": "经核实不属于本镇管辖范围，已告知向县有关部门反映。",
    "record_visit": "回访当事人，了解处理结果落实情况。",
    "reopen": "回访发现问题再次出现。",
    "return": "经核实不属于本部门职责，请调处中心改派。",
    "request_extension": "当事人外出务工，需等其返乡后调解。",
    "escalate": "涉及人数较多，需区级协调。",
    "confirm_result": "经复核，处理结果符合规定，予以维持。",
    "complaint": "处理结果不满意，希望再来看看。",
}
SWEEP_NOTES = {
    "chase": "超过受理时限，请尽快受理。",
    "escalate_to_leader": "紧急报告超时未受理，已报告分管领导。",
}
STEP_LABELS = {s.value: s.label for s in Step}

# The stories of the reports (benchmarks/bench_search.py's words, so its queries find them).
SUBJECTS = [
    "两户邻居", "村民", "兄弟两家", "承包户", "租户", "老人", "养殖户", "外来务工人员",
    "婆媳", "夫妻", "前后院两家", "村民小组", "包工头", "小卖部老板", "合作社",
]  # fmt: skip
CAUSES = [
    "因宅基地边界", "因土地承包", "因院墙排水", "因拖欠工资", "因借款不还", "因赡养老人",
    "因噪音扰民", "因楼上漏水", "因家禽散养", "因修路占地", "因婚姻家庭", "因坟地迁移",
    "因树木遮挡采光", "因鱼塘承包到期", "因车辆剐蹭", "因狗咬伤人", "因彩礼退还",
    "因山林权属", "因灌溉用水", "因征地补偿款分配",
]  # fmt: skip
OUTCOMES = [
    "发生争吵", "产生纠纷", "多次冲突", "互不相让", "已发生推搡", "扬言要动手",
    "要求村里调解", "多次上门讨要", "协商不成", "情绪激动",
]  # fmt: skip
DETAILS = [
    "涉及金额约{n}万元", "已持续{n}个月", "村干部已上门劝解未果", "现场有{n}人围观",
    "请求镇里协调处理", "双方各执一词", "一方已找律师咨询", "曾经调解过一次",
    "院墙出现裂缝", "电线老化有火灾隐患", "柴草堆放紧挨电线杆", "液化气罐放在灶边",
    "河道堆放大量建筑垃圾", "夜间有人焚烧秸秆", "桥护栏损坏晚上没有路灯",
    "有人在河道用电网捕鱼", "卫生间漏水渗到楼下", "天花板大面积渗水", "院内积水无法排出",
    "拖欠{n}名农民工的工资", "对方拒不承认借条", "老人生活无人照料",
]  # fmt: skip
PLACES = [
    "{v}{n}组", "{v}村西胡同", "{v}东头", "{v}村委会门口", "{v}卫生所", "{v}小学旁",
    "县道{n}公里处", "{v}北河道", "{v}南承包地", "{v}文化广场", "{v}集市", "{v}{n}号院",
]  # fmt: skip
SURNAMES = "张李王刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = "建国秀英志强桂兰春生玉梅德福海军丽华明亮红霞文博淑珍振华凤英永刚金凤国庆翠花晓东"


def phone(number: int) -> str:
    """The phone of a seeded informant (`number`: the case id) or party (PARTY_PHONES plus
    twice the case id, plus 1 for the respondent): distinct numbers, distinct phones."""
    return f"13{(number * 7919) % 1_000_000_000:09d}"


PARTY_PHONES = 500_000_000


def tracking_secret(case_id: int) -> str:
    """The tracking code of a seeded villager's report (26 characters of the alphabet)."""
    return f"T{case_id:025d}"


def case_code(index: int, seed: int) -> str:
    """A seeded case's number: 12 characters of the case-number alphabet, unique for each
    `index` (an affine map, odd multiplier, modulo 32**12), different for each seed."""
    space = 32**codes.LENGTH
    value = (index * (0x5DEECE66D | 1) + seed * 0x9E3779B97F4A7C15 + 0xB) % space
    out = []
    for _ in range(codes.LENGTH):
        value, digit = divmod(value, 32)
        out.append(codes.ALPHABET[digit])
    return "".join(out)


# ---------------------------------------------------------------------------------------
# The town as the seeder needs it.


@dataclass
class _Category:
    id: int
    code: str
    group: CategoryGroup
    kind: str  # "dispute", "hazard" or "enforcement": what the results are
    urgent: bool
    confidential: bool
    # (step, urgent) -> (warn, due) as (amount, unit) pairs, warn None for no yellow stage.
    limits: dict = field(default_factory=dict)


@dataclass
class _Village:
    id: int
    name: str
    grid_id: int | None
    worker_id: int | None  # the grid worker who looks after it
    town_id: int


@dataclass
class _Town:
    id: int
    center_id: int
    categories: list[_Category]
    villages: list[_Village]
    handler_of: dict[int, int]  # department id -> the member who signs for its cases
    names: dict[int, str]  # department id -> name
    routes: dict[tuple[int, int], tuple[int, tuple[int, ...]]]  # (category, village) ->
    # (lead, co-handlers)
    justice_id: int | None


def _load_town(town_id: int | None = None) -> _Town:
    """A town's villages, categories, departments, people and routes: the first town's
    (the demo's) unless another is named; the demo's second town and the district are
    left as they are."""
    if town_id is None:
        town_id = db.session.scalar(select(Town.id).order_by(Town.id))
    deadlines = Deadlines(reference.calendar)
    categories = []
    for category in db.session.scalars(
        select(Category).where(Category.active.is_(True)).order_by(Category.id)
    ):
        limits = {}
        for step in Step:
            for urgent in (False, True):
                warn, due = deadlines.limits(category, step, town_id=town_id, urgent=urgent)
                limits[step.value, urgent] = (
                    _duration(warn) if warn else None,
                    _duration(due),
                )
        kind = {
            CategoryGroup.DISPUTE: "dispute",
            CategoryGroup.ENFORCEMENT: "enforcement",
        }.get(category.group, "hazard")
        categories.append(
            _Category(
                category.id,
                category.code,
                category.group,
                kind,
                category.urgent,
                category.confidential,
                limits,
            )
        )
    grids = {}
    for grid in db.session.scalars(
        select(Grid)
        .join(Grid.village)
        .where(Grid.active.is_(True), Village.town_id == town_id)
        .order_by(Grid.id)
    ):
        grids.setdefault(grid.village_id, grid.id)
    workers = {}
    for user in db.session.scalars(
        select(User)
        .where(User.role == Role.GRID_WORKER, User.active.is_(True), User.town_id == town_id)
        .order_by(User.id)
    ):
        for village_id in sorted(user.village_ids):
            workers.setdefault(village_id, user.id)
    villages = [
        _Village(v.id, v.name, grids.get(v.id), workers.get(v.id), v.town_id)
        for v in db.session.scalars(
            select(Village)
            .where(Village.active.is_(True), Village.town_id == town_id)
            .order_by(Village.id)
        )
    ]
    handler_of = {}
    for user in db.session.scalars(
        select(User)
        .where(User.role == Role.HANDLER, User.active.is_(True), User.town_id == town_id)
        .order_by(User.id)
    ):
        handler_of.setdefault(user.department_id, user.id)
    departments = db.session.scalars(
        select(Department).where(Department.town_id == town_id).order_by(Department.id)
    ).all()
    names = {d.id: d.name for d in departments}
    justice = next(
        (d.id for d in departments if d.kind == DepartmentKind.JUSTICE_OFFICE and d.active), None
    )
    # Routing reads a category's rules and whether it is a dispute: categories alike in
    # both are routed alike, so each village asks once for each kind of rules.
    alike: dict[tuple, list[int]] = {}
    for category in db.session.scalars(
        select(Category).where(Category.active.is_(True)).order_by(Category.id)
    ):
        rules = sorted(
            (
                r.village_id or 0,
                r.town_id or 0,
                r.role.value,
                r.department_id or 0,
                r.department_kind or "",
            )
            for r in category.routing_rules
        )
        alike.setdefault((category.is_dispute, tuple(rules)), []).append(category)
    routes = {}
    for village in db.session.scalars(
        select(Village)
        .where(Village.active.is_(True), Village.town_id == town_id)
        .order_by(Village.id)
    ):
        for members in alike.values():
            found = route(members[0], village)
            if found.lead is not None and found.lead.id in handler_of:
                co = tuple(d.id for d in found.co if d.id in handler_of)
                for category in members:
                    routes[category.id, village.id] = (found.lead.id, co)
    center = db.session.scalar(
        select(User.id)
        .where(User.role == Role.CENTER, User.active.is_(True), User.town_id == town_id)
        .order_by(User.id)
    )
    if center is None or not villages or not categories:
        raise RuntimeError("load the demo town first (benchmarks/town.py demo_town)")
    return _Town(town_id, center, categories, villages, handler_of, names, routes, justice)


# The district's towns the benchmark adds beside the demo's, each a copy of its first town.
TOWN_NAMES = [
    "东岗镇",
    "西营镇",
    "南河镇",
    "北塘镇",
    "中旺镇",
    "双桥镇",
    "三合镇",
    "四方镇",
    "五里镇",
]


def district_towns(total: int) -> list[int]:
    """The ids of `total` towns of the district for the cases, the demo's first town
    first: those with the most villages (the demo's small second town comes last), and as
    many copies of the first town as that needs: its villages, grids, departments (a
    mediation committee a village, its legal advisors, the town's offices) and people, each
    under the new town's name. Committed."""

    def size(town_id: int) -> int:
        return db.session.scalar(select(func.count(Village.id)).where(Village.town_id == town_id))

    first = db.session.scalar(select(Town).order_by(Town.id))
    full = size(first.id)
    have = [t for t in db.session.scalars(select(Town.id).order_by(Town.id)) if size(t) >= full]
    for name in TOWN_NAMES[: max(0, total - len(have))]:
        have.append(_copy_town(first, name, len(have) + 1))
    db.session.commit()
    if len(have) < total:
        raise ValueError(f"at most {len(TOWN_NAMES) + 1} towns")
    return have[:total]


def _copy_town(first: Town, name: str, number: int) -> int:
    """A new town like `first`: the same villages, grids, departments and accounts."""
    with db.session.no_autoflush:  # the copies go in whole, at the end
        return _copied(first, name, f"Z{number:02d}")


def _copied(first: Town, name: str, prefix: str) -> int:
    town = Town(name=name, hotline=first.hotline)
    db.session.add(town)
    villages, grids = {}, {}
    for village in db.session.scalars(select(Village).where(Village.town_id == first.id)):
        villages[village.id] = copy = Village(
            town=town, code=f"{prefix}{village.code}", name=village.name, active=village.active
        )
        for grid in village.grids:
            grids[grid.id] = Grid(village=copy, code=f"{prefix}{grid.code}", name=grid.name)
    departments = {}
    for department in db.session.scalars(select(Department).where(Department.town_id == first.id)):
        departments[department.id] = Department(
            town=town,
            name=f"{name}{department.name}",
            kind=department.kind,
            town_wide=department.town_wide,
            active=department.active,
            villages=[villages[v.id] for v in department.villages],
        )
    for user in db.session.scalars(select(User).where(User.town_id == first.id)):
        db.session.add(
            User(
                username=f"{prefix.lower()}-{user.username}",
                display_name=f"{name}{user.display_name}",
                role=user.role,
                password_hash=user.password_hash,
                active=user.active,
                town=town,
                department=departments.get(user.department_id),
                grids=[grids[g.id] for g in user.grids],
            )
        )
    db.session.flush()
    return town.id


def _duration(value: str) -> tuple[int, str]:
    parsed = parse_duration(value)
    return parsed.amount, parsed.unit


class _Clocks:
    """Step clocks in whole seconds since the epoch (UTC), as `Deadlines.clock` makes them:
    working days on the town's calendar, the other units by the clock."""

    UNIT = {"m": 60, "h": 3600, "d": 86400}

    def __init__(self, first: date, last: date):
        self.calendar = reference.calendar()
        zone = clock.town_tz()
        offsets = {
            datetime(year, month, 1, 12, tzinfo=zone).utcoffset()
            for year in range(first.year, last.year + 2)
            for month in (1, 7)
        }
        if len(offsets) != 1:  # a zone with summer time: not China's, nor the seeder's
            raise RuntimeError(f"the town's time zone {zone} changes its offset")
        self.offset = int(offsets.pop().total_seconds())
        self._workday: dict[int, bool] = {}
        self._after: dict[tuple[int, int], int] = {}

    def workday(self, day: int) -> bool:
        known = self._workday.get(day)
        if known is None:
            known = self._workday[day] = self.calendar.is_workday(date.fromordinal(day))
        return known

    def _days_after(self, day: int, count: int) -> int:
        """The `count`-th working day after `day` (ordinal days)."""
        found = self._after.get((day, count))
        if found is None:
            found = day
            for _ in range(count):
                found += 1
                while not self.workday(found):
                    found += 1
            self._after[day, count] = found
        return found

    def add(self, start: int, duration: tuple[int, str]) -> int:
        """`start` plus `duration` (WorkCalendar.add: a start on a day off counts from
        the beginning of the next working day)."""
        amount, unit = duration
        if unit != "wd":
            return start + amount * self.UNIT[unit]
        local = start + self.offset
        day, moment = divmod(local, 86400)
        day += _EPOCH_ORDINAL
        if not self.workday(day):
            day, moment = self._days_after(day, 1), 0
        day = self._days_after(day, amount)
        return (day - _EPOCH_ORDINAL) * 86400 + moment - self.offset


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class _Days(dict):
    """Days since the epoch -> their ISO date, made when first asked for."""

    def __missing__(self, number: int) -> str:
        found = self[number] = date.fromordinal(number + _EPOCH_ORDINAL).isoformat()
        return found


def _stamper(dialect: str):
    """A function: whole seconds since the epoch (UTC) -> the time as the database takes
    it (SQLAlchemy's SQLite text, PostgreSQL's timestamptz input)."""
    suffix = "+00" if dialect == "postgresql" else ".000000"
    days = _Days()
    tod = [
        f" {h:02d}:{m:02d}:{s:02d}{suffix}" for h in range(24) for m in range(60) for s in range(60)
    ]

    def stamp(moment: int) -> str:
        return days[moment // 86400] + tod[moment % 86400]

    return stamp


def _iso(stamped: str) -> str:
    """A stamped time as the app's JSON keeps it (`datetime.isoformat()` in UTC)."""
    return stamped[:10] + "T" + stamped[11:19] + "+00:00"


# ---------------------------------------------------------------------------------------
# The cases.


@dataclass
class _Story:
    """What happens to one case, drawn before its rows are made."""

    case_id: int
    code: str
    town: _Town
    created: int
    category: _Category
    village: _Village
    source: str
    happening: bool
    urgent: bool
    lead: int | None
    co: tuple[int, ...]
    fate: str  # "closed", "open", "rejected" or "merged"
    plan: list[str]  # its actions after the report, in order
    fractions: list[float]  # how far into its step's time limit each came (past 1: late)
    result_code: str
    closing_reason: str
    outcome: str  # the follow-up visit's
    satisfaction: str | None  # heard at the visit
    answer: str | None  # the villager's own answer on the tracking page, if any
    # Made by `_Generator._simulate`: each action's time, the clock it ran against
    # (step, due), the clock running after it (step, start, warn limit, due), and a
    # dispatch's handling due time.
    times: list[int] = field(default_factory=list)
    ran: list = field(default_factory=list)
    running: list = field(default_factory=list)
    handle_dues: list = field(default_factory=list)
    # The case received just before in its town: (id, code, taken on); what a merged
    # report is merged into.
    previous: tuple | None = None


class _Generator:
    """Makes the rows of N cases, a batch at a time. A batch is drawn from a stream of
    random numbers of its own (the seed and its number) and owes nothing to another, so
    batches can be made in any process, in any order: the same rows. Its rows of
    `ROW_NUMBERED` tables come without their id, which the writer gives them in batch
    order (case ids, which other rows name, are the first plus the case's number)."""

    def __init__(self, towns, clocks, dialect, *, cases, seed, years, open_share, now, first):
        # The towns take the cases in turn (case i the i-th town's, modulo): each town's
        # history spans the same years, and one town's rows are drawn as they always were.
        self.towns, self.clocks, self.stamp = towns, clocks, _stamper(dialect)
        self.count, self.seed, self.now = cases, seed, now
        self.batch_count = -(-cases // BATCH)
        span = int(years * 365.25 * 86400)
        self.start = now - span
        self.slot = (span - 3600) / max(cases, 1)
        # A case received `age` ago is open with a chance falling from `open_chance` (just
        # received) to 0 at `window`: on average `open_share` of them all.
        self.window = max(1, min(span, int(2 * open_share * span)))
        self.open_chance = min(1.0, open_share * span / (self.window / 2))
        self.first_case = first["case_file"]
        groups: dict = {}
        for category in towns[0].categories:
            groups.setdefault(category.group, []).append(category)
        self.categories = []  # drawn from: each group's weight shared by its categories
        for group, members in groups.items():
            for category in members:
                self.categories += [category] * round(10 * GROUP_WEIGHTS[group] / len(members))
        self.stalls = [action for action, n in STALLS.items() for _ in range(n)]
        self.counts = {"open": 0, "overdue": 0, "awaiting_review": 0, "supervised": 0}
        self._terms: dict[str, list[str]] = {}
        self._name_keys: dict[str, str] = {}
        self._sealed: dict[str, tuple[str, str]] = {}  # name -> (sealed, digest)
        self._json: dict = {}
        self._details = [[text.format(n=n) for n in range(2, 30)] for text in DETAILS]
        self._places: dict[tuple, str] = {}

    def batches(self) -> Iterator[dict[str, list[tuple]]]:
        """The rows of every case, a batch at a time, by table."""
        for number in range(self.batch_count):
            yield self.batch(number)

    def batch(self, number: int) -> dict[str, list[tuple]]:
        """The rows of the `number`-th BATCH cases, by table."""
        self.rng = random.Random(f"{self.seed}:{number}")  # noqa: S311 - synthetic data
        self._recent: dict[int, list] = {}  # village -> [(received, parties)] of disputes
        self._previous: dict[int, tuple] = {}  # town -> (id, code, taken on) of its last
        rows = {table: [] for table in TABLES}
        for i in range(number * BATCH, min((number + 1) * BATCH, self.count)):
            story = self._story(i)
            self._settle(story)
            case = self._timeline(story, rows)
            self._people(story, case, rows)
            self._case_row(story, case, rows)
            self._previous[story.town.id] = (story.case_id, story.code, story.fate not in ENDED)
        return rows

    # -- what happens ----------------------------------------------------------------------

    def _story(self, i: int) -> _Story:
        """Draw what happens to the i-th case."""
        town, r = self.towns[i % len(self.towns)], self.rng.random
        previous = self._previous.get(town.id)
        case_id = self.first_case + i
        created = self.start + int((i + r()) * self.slot)
        category = self.categories[int(r() * len(self.categories))]
        village = town.villages[int(r() * len(town.villages))]
        source = SOURCES[int(r() * len(SOURCES))]
        happening = not category.urgent and r() < HAPPENING_SHARE
        lead, co = town.routes.get((category.id, village.id), (None, ()))
        if category.kind == "dispute" and town.justice_id and r() < JUSTICE_SHARE:
            lead, co = town.justice_id, tuple(d for d in co if d != town.justice_id)
        co = co if r() < CO_SHARE else ()
        fate, x = "closed", r()
        if x < REJECT_SHARE or lead is None:
            fate = "rejected"
        elif x < REJECT_SHARE + MERGE_SHARE and previous and previous[2]:
            fate = "merged"  # a duplicate of the report just before, still open then
        age = self.now - created
        if fate == "closed" and 0 <= age < self.window:
            fate = "open" if r() < self.open_chance * (1 - age / self.window) else fate
        results = DISPUTE_RESULTS if category.kind == "dispute" else HAZARD_RESULTS
        result_code, closing_reason, outcome = results[int(r() * len(results))]
        satisfaction = SATISFACTIONS[int(r() * len(SATISFACTIONS))]
        answer = None
        if source != "grid_worker" and r() < ANSWER_SHARE:  # a villager's, with a tracking code
            answer = SATISFACTIONS[int(r() * (len(SATISFACTIONS) - 1))]
        if fate == "rejected":
            plan = ["reject"]
        elif fate == "merged":
            plan = ["merge"]
        else:
            plan = ["accept", "dispatch", "sign_for", "resolve", "verify"]
            if r() < REOPEN_SHARE:
                plan += ["record_visit", "reopen", "dispatch", "sign_for", "resolve", "verify"]
            if answer:
                plan.append("answer_follow_up")
                if answer == "dissatisfied":
                    plan.append("confirm_result")
            plan += ["record_visit", "close"]
            if r() < ESCALATE_SHARE:
                plan.insert(1, "escalate")
        fractions = [1.02 + 0.8 * r() if r() < LATE_SHARE else 0.05 + 0.85 * r() for _ in plan]
        return _Story(
            case_id, case_code(case_id, self.seed), town, created, category, village, source,
            happening, category.urgent or happening, lead, co, fate, plan, fractions,
            result_code, closing_reason, outcome, satisfaction, answer, previous=previous,
        )  # fmt: skip

    def _simulate(self, story: _Story, speed: float) -> None:
        """Each action's time and clocks: it comes its drawn fraction of its step's time
        limit after the step began, `speed` times as fast."""
        add, limits, category = self.clocks.add, story.category.limits, story.category
        urgent, created = story.urgent, story.created

        def clock_of(step, start, fast):
            warn, due = limits[step, fast]
            return (step, start, warn, add(start, due))

        running = clock_of("accept", created, urgent)
        moment = created
        times, ran, after, handle_dues = [], [], [], []
        dispatched = handle_due = resolved = None
        for action, fraction in zip(story.plan, story.fractions, strict=True):
            handle = None
            if action in ASIDE:
                moment += max(60, int(fraction * ASIDE[action] * speed))
                times.append(moment)
                ran.append(None)
                after.append(running)
                handle_dues.append(None)
                continue
            _step, start, _warn, due = running
            moment += max(60, int((start + fraction * (due - start) - moment) * speed))
            ran.append((running[0], due))
            if action == "accept":
                # An urgent report is accepted *and dispatched* within its limit of the
                # report itself (workflow.effects.accept).
                running = clock_of("dispatch", created if urgent else moment, urgent)
            elif action == "dispatch":
                dispatched = moment
                handle = handle_due = add(moment, limits["handle", False][1])
                running = clock_of("sign_for", moment, urgent)
            elif action == "sign_for":
                # The handling clock runs from the dispatch to the lead's due time.
                running = ("handle", dispatched, limits["handle", False][0], handle_due)
            elif action == "resolve":
                resolved = moment
                if story.happening and not category.urgent:
                    urgent = False  # what was happening is dealt with
                running = clock_of("verify", moment, urgent)
            elif action == "verify":
                running = clock_of("follow_up", resolved, False)  # from the result
            elif action == "reopen":
                running = clock_of("dispatch", moment, urgent)
            else:  # close, reject, merge: no clock runs
                running = None
            times.append(moment)
            after.append(running)
            handle_dues.append(handle)
        story.times, story.ran, story.running, story.handle_dues = times, ran, after, handle_dues

    def _settle(self, story: _Story) -> None:
        """Fit the story into the time before `now`: a closed case closed by then, an open
        one waiting where `now` finds it."""
        now, r = self.now, self.rng.random
        self._simulate(story, 1.0)
        if story.fate != "open" and story.times[-1] > now - 60:
            speed = (now - 60 - story.created) / max(1, story.times[-1] - story.created)
            for _ in range(8):
                self._simulate(story, speed)
                if story.times[-1] <= now - 60:
                    return
                speed *= 0.6
            story.fate = "open"  # received minutes ago: it is simply not done yet
        if story.fate != "open":
            return
        kept = sum(1 for moment in story.times if moment <= now)
        if kept == len(story.plan):
            # Its path would have ended by now: it stalled at a step, which runs late.
            kept = story.plan.index(self.stalls[int(r() * len(self.stalls))])
        for name in ("plan", "times", "ran", "running", "handle_dues"):
            setattr(story, name, getattr(story, name)[:kept])
        # What the center is asked while it waits.
        status = _status_after(story.plan)
        last = story.times[-1] if story.times else story.created
        extra = None
        if status == "in_progress" and r() < 0.12:
            extra = "return" if r() < 0.5 else "request_extension"
        elif status == "follow_up" and story.answer and "answer_follow_up" not in story.plan:
            extra = "answer_follow_up"
        if extra and now - last > 180:
            story.plan.append(extra)
            story.times.append(last + 60 + int(r() * min(ASIDE[extra], now - last - 120)))
            story.ran.append(None)
            story.running.append(story.running[-1])
            story.handle_dues.append(None)

    # -- the rows ----------------------------------------------------------------------------

    def _timeline(self, story: _Story, rows: dict) -> dict:
        """The case's events as workflow.apply writes them, and its assignments; returns
        what the case row keeps of them."""
        town, stamp, events = story.town, self.stamp, rows["case_event"]
        case_id, created, category = story.case_id, story.created, story.category
        village_id, category_id = story.village.id, category.id
        marks: dict[str, str] = {}  # Case.last_events: action -> when, stamped
        first_event = len(events)
        status, last, supervised, urgent, step_now = (
            "submitted",
            created,
            False,
            story.urgent,
            "accept",
        )

        def emit(action, to, at, actor, role, note, data, internal, step, due, result):
            """One event, with the facts new_event gives it (server/cases/workflow/events.py)."""
            nonlocal status, last
            stamped = stamp(at)
            events.append(
                (
                    case_id, action, status if action != "submit" else None, to,
                    stamped, actor, role, note, data, internal, step, due, marks.get(action),
                    marks.get(f"{action}={result}") if result else None, marks.get("*counted"),
                    village_id, category_id, at - created, result,
                )
            )  # fmt: skip
            marks[action] = stamped
            if result:
                marks[f"{action}={result}"] = stamped
            if action in COUNTED:
                marks["*counted"] = stamped
            status, last = to, at

        def sweep(due: int) -> None:
            """The sweep's event when the running step passed its due time
            (server/follow_through/sweep.py)."""
            nonlocal supervised
            label = STEP_LABELS[step_now]
            if status == "submitted":
                action = "escalate_to_leader" if urgent else "chase"
                note = SWEEP_NOTES[action]
            elif not supervised:
                action, note, supervised = "supervise", f"{label}已超过期限，系统自动督办。", True
            else:
                action, note = "chase", f"{label}已超过期限。"
            emit(
                action,
                status,
                max(due, last + 1),
                None,
                "system",
                note,
                "{}",
                True,
                None,
                None,
                None,
            )

        source = story.source
        emit(
            "submit", "submitted", created, self._submitter(story), SUBMITTER_ROLES.get(source),
            None, self._cached_json(("submit", source, category.code),
                                    {"source": source, "category": category.code}),
            False, None, None, None,
        )  # fmt: skip
        lead, co, center = story.lead, story.co, town.center_id
        handler = town.handler_of.get(lead) if lead is not None else None
        visitor, visitor_role = center, "center"
        if not category.confidential and story.village.worker_id is not None:
            # A confidential case's visit is the center's (workflow.guards.visits).
            visitor, visitor_role = story.village.worker_id, "grid_worker"
        dispute = category.kind == "dispute"
        accepted_at = resolved_at = closed_at = result_now = closing = satisfaction = None
        complaint_at = return_at = extension_until = lead_now = handler_now = None
        escalated = False
        assignments = []  # [department, role, assigned, due, signed, feedback, at, ended]
        plan, times, ran, running = story.plan, story.times, story.ran, story.running
        for n, action in enumerate(plan):
            at = times[n]
            step, due = ran[n] or (None, None)
            if due is not None and at > due:
                sweep(due)  # the step ran late: the sweep came by at its due time
            if at <= last:
                at = last + 1
            actor, role, note, result, data = center, "center", None, None, "{}"
            due_stamp = ran_against = None
            if step:
                due_stamp = stamp(due)
                ran_against = f'"step": "{step}", "step_due_at": "{_iso(due_stamp)}"'
                data = "{" + ran_against + "}"
            to = STATUS_AFTER.get(action, status)
            if action == "accept":
                accepted_at = at
            elif action == "dispatch":
                handle_due = story.handle_dues[n]
                for part in assignments:
                    part[7] = part[7] or at
                assignments.append([lead, "lead", at, handle_due, None, None, None, None])
                for department in co:
                    assignments.append([department, "co", at, handle_due, None, None, None, None])
                names = self._cached_json(
                    ("dispatch", lead, co),
                    {
                        "lead_department": town.names[lead],
                        "co_departments": [town.names[d] for d in co],
                    },
                )[1:-1]
                data = (
                    "{" + names + ", " + ran_against
                    + f', "handle_due_at": "{_iso(stamp(handle_due))}"}}'
                )  # fmt: skip
                lead_now, handler_now = lead, None
            elif action == "sign_for":
                actor, role = handler, "handler"
                assignments[-1 - len(co)][4] = at  # the lead's share is signed for
                handler_now = handler_now or handler
            elif action == "resolve":
                actor, role, result = handler, "handler", story.result_code
                note = RESULT_TEXT[result]
                data = "{" + f'"result_code": "{result}", ' + ran_against + "}"
                resolved_at, result_now, return_at, extension_until = at, result, None, None
                if story.happening and not category.urgent:
                    urgent = False  # what was happening is dealt with
                lead_share = assignments[-1 - len(co)]
                lead_share[5], lead_share[6] = note, at
            elif action == "record_visit":
                actor, role, note = visitor, visitor_role, NOTES["record_visit"]
                back = plan[n + 1 : n + 2] == ["reopen"]
                seen = ("broken" if dispute else "back_again") if back else story.outcome
                result = None if back else story.satisfaction
                heard = f', "satisfaction": "{result}"' if result else ""
                data = f'{{"outcome": "{seen}"{heard}}}'
                satisfaction = result or satisfaction
            elif action == "reopen":
                actor, role, note = visitor, visitor_role, NOTES["reopen"]
                for part in assignments:
                    part[7] = part[7] or at
                resolved_at = result_now = complaint_at = lead_now = handler_now = None
            elif action == "close":
                result = closing = story.closing_reason
                data = "{" + f'"closing_reason": "{result}", ' + ran_against + "}"
                closed_at = at
                for part in assignments:
                    part[7] = part[7] or at
            elif action == "answer_follow_up":
                actor, role, result = None, "reporter", story.answer
                data = f'{{"satisfaction": "{result}"}}'
                satisfaction = result
                if result == "dissatisfied":
                    complaint_at = at
            elif action == "confirm_result":
                note, complaint_at = NOTES["confirm_result"], None
            elif action == "reject":
                note = NOTES["reject"]
            elif action == "merge":
                data = "{" + f'"into": "{story.previous[1]}", ' + ran_against + "}"
            elif action == "return":
                actor, role, note, return_at = handler, "handler", NOTES["return"], at
            elif action == "request_extension":
                actor, role, note = handler, "handler", NOTES["request_extension"]
                extension_until = running[n][3] + 10 * 86400
                consent = ', "parties_consent": true' if dispute else ""
                data = f'{{"until": "{_iso(stamp(extension_until))}"{consent}}}'
            elif action == "escalate":
                note, escalated = NOTES["escalate"], True
            internal = action in INTERNAL
            emit(action, to, at, actor, role, note, data, internal, step, due_stamp, result)
            if running[n] is not None:
                step_now = running[n][0]

        clock = None
        if status not in ENDED:
            # The clock it waits on, and the sweep's doing once that passed.
            if plan:
                step, started, warn, due = running[-1]
            else:
                warn, due = category.limits["accept", story.urgent]
                step, started, due = "accept", created, self.clocks.add(created, due)
            warn_at = self.clocks.add(started, warn) if warn else None
            if warn_at is not None and warn_at > due:
                warn_at = None if step == "handle" else due  # as _resume_handling, clock()
            alert = None
            if due <= self.now:
                sweep(due)
                alert = "overdue"
                self.counts["overdue"] += 1
            elif warn_at is not None and warn_at <= self.now:
                alert = "warn"
            self.counts["open"] += 1
            clock = (step, started, warn_at, due, alert)
        if complaint_at or return_at or extension_until:
            self.counts["awaiting_review"] += 1
        self.counts["supervised"] += supervised
        shares = rows["case_assignment"]
        for department, part, assigned, due, signed, feedback, feedback_at, ended in assignments:
            shares.append(
                (case_id, department, part, stamp(assigned),
                 stamp(due), signed and stamp(signed), feedback,
                 feedback_at and stamp(feedback_at), ended and stamp(ended),
                 stamp(created), clock is not None, status, village_id)
            )  # fmt: skip
        return {
            "status": status, "supervised": supervised, "urgent": urgent, "escalated": escalated,
            "accepted_at": accepted_at, "resolved_at": resolved_at, "closed_at": closed_at,
            "result": result_now, "closing": closing, "satisfaction": satisfaction,
            "complaint_at": complaint_at, "return_at": return_at,
            "extension_until": extension_until, "lead": lead_now, "handler": handler_now,
            "events": len(events) - first_event, "last": last, "clock": clock,
            "departments": list(dict.fromkeys(part[0] for part in assignments)),
            "last_events": "{"
            + ", ".join([f'"{key}": "{_iso(at)}"' for key, at in marks.items()])
            + "}",
        }  # fmt: skip

    def _people(self, story: _Story, case: dict, rows: dict) -> None:
        """The story told, the parties to a dispute, the informant, the words."""
        r, case_id, village = self.rng.random, story.case_id, story.village
        # In fragments whose words add up to the description's (a run of words ends at
        # the punctuation between them).
        fragments = [
            SUBJECTS[int(r() * len(SUBJECTS))]
            + CAUSES[int(r() * len(CAUSES))]
            + OUTCOMES[int(r() * len(OUTCOMES))]
        ]
        details = self._details
        for _ in range(1 + int(r() * 3)):
            fragments.append(details[int(r() * len(details))][int(r() * 28)])
        key = (int(r() * len(PLACES)), village.name, 1 + int(r() * 11))
        place = self._places.get(key)
        if place is None:
            place = self._places[key] = PLACES[key[0]].format(v=key[1], n=key[2])
        case["description"], case["place"] = "，".join(fragments) + "。", place
        case["people"], case["repeat"], names = 1 + int(r() * 3), False, []
        digests = rows["case_identity_digest"]
        if story.category.kind == "dispute":
            recent = self._recent.setdefault(village.id, [])
            while recent and recent[0][0] < story.created - 300 * 86400:
                recent.pop(0)  # out of the repeat-dispute window (12 months)
            if recent and r() < REPEAT_SHARE:
                pair = recent[int(r() * len(recent))][1]
                case["repeat"] = True
            else:
                pair = [
                    (self._name(), phone(PARTY_PHONES + 2 * case_id) if r() < 0.3 else None),
                    (self._name(), phone(PARTY_PHONES + 2 * case_id + 1) if r() < 0.3 else None),
                ]
            if story.fate not in ENDED:  # no earlier dispute for a later one
                recent.append((story.created, pair))
                if len(recent) > 20:
                    recent.pop(0)
            case["people"] = 2 + (int(r() * 12) if r() < 0.1 else 0)
            for side, (name, party_phone) in zip(("applicant", "respondent"), pair, strict=True):
                key = self._name_keys.get(name)
                if key is None:
                    key = self._name_keys[name] = repeats.name_key(name)
                rows["case_party"].append(
                    (case_id, side, "person", name, party_phone,
                     key, party_phone)
                )  # fmt: skip
                names.append(name)
                if party_phone:
                    digests.append(
                        (case_id, "party_phone",
                         identity.digest("phone", party_phone))
                    )  # fmt: skip
        case["name"] = case["phone"] = None
        if r() < NAMED_SHARE:
            informant, own_phone = self._name(), phone(case_id)
            if informant not in self._sealed:
                self._sealed[informant] = (
                    identity.seal(informant),
                    identity.digest("name", informant),
                )
            case["name"], name_digest = self._sealed[informant]
            case["phone"] = identity.seal(own_phone)
            digests.append((case_id, "reporter_name", name_digest))
            digests.append((case_id, "reporter_phone", identity.digest("phone", own_phone)))
        words = [search.village_term(village.id)]
        for fragment in [*fragments, place, *names]:
            found = self._terms.get(fragment)
            if found is None:
                found = self._terms[fragment] = search.terms(fragment)
            words += found
        # The departments it was sent to, in that order (search.add_departments).
        words += [search.department_term(d) for d in case["departments"]]
        rows["case_search"].append((case_id, " ".join(words)))

    def _case_row(self, story: _Story, case: dict, rows: dict) -> None:
        r, stamp = self.rng.random, self.stamp
        step = started = warn_at = due = alert = None
        if case["clock"]:
            step, started, warn_at, due, alert = case["clock"]
        status, named = case["status"], case["name"] is not None
        lead = case["lead"] if status not in ("submitted", "accepted") else None
        result = case["result"]

        def maybe(moment):
            return None if moment is None else stamp(moment)

        rows["case_file"].append(
            (
                story.case_id, story.code, story.source, story.village.id,
                story.village.town_id, story.village.grid_id, story.category.id,
                SEVERITIES[int(r() * len(SEVERITIES))], RISKS[int(r() * len(RISKS))],
                case["people"],
                story.category.kind == "dispute" and case["people"] >= 5,
                r() < CRIMINAL_SHARE, case["urgent"], story.happening, case["repeat"],
                case["description"], case["place"], not named, case["name"], case["phone"],
                "named" if named and story.source == "grid_worker" else None, False,
                None if story.source == "grid_worker"
                else tracking.secret_hash(tracking_secret(story.case_id)),
                self._submitter(story), status, lead, case["handler"] if lead else None, step,
                maybe(started), maybe(warn_at), maybe(due), alert,
                maybe(case["extension_until"]), maybe(case["return_at"]),
                maybe(case["complaint_at"]), case["supervised"], case["escalated"],
                case["satisfaction"], result, RESULT_TEXT[result] if result else None,
                NOTES["reject"] if status == "rejected" else None,
                story.previous[0] if status == "merged" else None, case["closing"],
                stamp(story.created), stamp(case["last"]), maybe(case["accepted_at"]),
                maybe(case["resolved_at"]), maybe(case["closed_at"]), case["last_events"],
                case["events"],
            )
        )  # fmt: skip

    # -- small things ------------------------------------------------------------------------

    def _submitter(self, story: _Story) -> int | None:
        """Who filed it: the village's grid worker, the center (来访, 来电), or a villager."""
        if story.source == "grid_worker":
            return story.village.worker_id
        return story.town.center_id if story.source in ("walk_in", "hotline") else None

    def _cached_json(self, key, value) -> str:
        found = self._json.get(key)
        if found is None:
            found = self._json[key] = json.dumps(value)
        return found

    def _name(self) -> str:
        r = self.rng.random
        given = GIVEN[int(r() * len(GIVEN))]
        if r() < 0.6:
            given += GIVEN[int(r() * len(GIVEN))]
        return SURNAMES[int(r() * len(SURNAMES))] + given


ENDED = frozenset({"rejected", "merged", "closed"})
SUBMITTER_ROLES = {"grid_worker": "grid_worker", "walk_in": "center", "hotline": "center"}


def _status_after(plan: list[str]) -> str:
    """The status a case has after the actions of `plan`."""
    for action in reversed(plan):
        if action in STATUS_AFTER:
            return STATUS_AFTER[action]
    return "submitted"


# ---------------------------------------------------------------------------------------
# Writing them.


class _SQLiteWriter:
    """executemany in one transaction. The seeded tables' secondary indexes and search
    triggers are dropped for the load and made again from their own SQL, in the order
    they were first made: SQLite breaks a tie between two indexes by their age, so only
    then does the seeded database plan as the migrated one it stands for. (Made again by
    name, a town's open cases were read through the index of every case, 340 ms a
    statement at 1M, where a migrated database reads the open cases' index.) The full-text
    index is rebuilt once. Foreign keys and CHECK constraints are checked once over the
    seeded rows after the load instead of row by row (they cost SQLite more than the rows
    themselves); a row that breaks one fails the seed, and nothing is committed."""

    def __init__(self, connection, first: dict[str, int]):
        self.connection, self.first = connection, first
        self.driver = connection.connection.driver_connection
        self.remake: list[str] = []
        self.journal = "wal"

    def begin(self) -> None:
        if self.driver.in_transaction:
            raise RuntimeError("the seeder begins its own transaction")
        # The rows written once, to the file, not to the WAL and again at its checkpoint:
        # the rollback journal in memory while loading (SQLite refuses the change, and
        # the WAL stays, while another connection has the file open).
        try:
            self.journal = self.driver.execute("PRAGMA journal_mode = MEMORY").fetchone()[0]
        except sqlite3.OperationalError:
            self.journal = "wal"
        for pragma in (
            "synchronous = OFF",  # a database being seeded is thrown away if the machine fails
            "foreign_keys = OFF",
            "ignore_check_constraints = ON",
            "cache_size = -1000000",  # 1 GB for the index builds
            "temp_store = MEMORY",
            "threads = 2",  # the index builds sort with a helper thread
        ):
            self.driver.execute(f"PRAGMA {pragma}")
        found = self.connection.exec_driver_sql(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name IN"  # noqa: S608 - ours
            f" ({', '.join(repr(t) for t in TABLES)})"
            " AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type, rowid"
        ).all()
        for kind, name, sql in found:
            self.connection.exec_driver_sql(f'DROP {kind.upper()} "{name}"')
            self.remake.append(sql)

    def write(self, table: str, rows: list[tuple]) -> None:
        columns = TABLES[table]
        self.driver.executemany(
            f"INSERT INTO {table} ({', '.join(columns)})"  # noqa: S608 - our own names
            f" VALUES ({', '.join('?' * len(columns))})",
            rows,
        )

    def finish(self) -> None:
        run = self.connection.exec_driver_sql
        self._check()
        for sql in self.remake:
            run(sql)
        run("INSERT INTO case_search_fts(case_search_fts) VALUES('rebuild')")
        db.session.commit()
        self.restore()
        # No ANALYZE: the app never gathers SQLite's statistics, so its plans at a town come
        # from the queries and indexes alone; a benchmark should see those plans.
        self.driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def restore(self) -> None:
        """The app's own settings again (server/db/sqlite.py), outside any transaction."""
        if self.journal == "memory":
            self.driver.execute("PRAGMA journal_mode = WAL")
        for pragma in (
            "foreign_keys = ON",
            "ignore_check_constraints = OFF",
            "synchronous = FULL",
            "cache_size = -2000",
        ):
            self.driver.execute(f"PRAGMA {pragma}")

    def _check(self) -> None:
        """Every CHECK constraint and foreign key of the seeded tables, over the rows the
        seed added (the others were checked as they were written): one pass a table."""
        run = self.connection.exec_driver_sql
        broken = []
        for table in TABLES:
            key = "case_id" if table == "case_search" else "id"
            first = self.first["case_file" if table == "case_search" else table]
            ddl = run("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).scalar()
            rules = [(f"CHECK ({check})", f"NOT ({check})") for check in _checks(ddl)]
            for row in run(f"PRAGMA foreign_key_list({table})").mappings():
                column, parent, target = row["from"], row["table"], row["to"] or "id"
                rules.append(
                    (
                        f"{column} names a row of {parent}",
                        f"{column} IS NOT NULL AND NOT EXISTS"  # noqa: S608 - the schema's own
                        f" (SELECT 1 FROM {parent} AS p WHERE p.{target} = c.{column})",
                    )
                )
            counts = run(
                f"SELECT {', '.join(f'count(*) FILTER (WHERE {bad})' for _, bad in rules)}"  # noqa: S608 - the schema's own
                f" FROM {table} AS c WHERE c.{key} >= ?",
                (first,),
            ).one()
            broken += [
                f"{table}: {n} rows break {rule}"
                for (rule, _bad), n in zip(rules, counts, strict=True)
                if n
            ]
        if broken:
            raise RuntimeError("the seeded rows break the schema: " + "; ".join(broken))


def _checks(ddl: str) -> list[str]:
    """The expressions of the CHECK constraints in a CREATE TABLE statement."""
    found, at = [], 0
    while (at := ddl.find("CHECK (", at)) >= 0:
        depth, start = 0, at + len("CHECK ")
        for end in range(start, len(ddl)):
            depth += {"(": 1, ")": -1}.get(ddl[end], 0)
            if depth == 0:
                found.append(ddl[start + 1 : end])
                break
        at = end
    return found


class _PostgresWriter:
    """COPY in one transaction. The seeded tables' secondary indexes and foreign keys are
    dropped for the load and made again from their own definitions (adding a foreign key
    checks every row); CHECK and unique constraints stay. The sequences are then set
    past the seeded ids, and the tables vacuumed (index-only scans need it) and analysed."""

    def __init__(self, connection, first: dict[str, int]):
        self.connection = connection
        self.driver = connection.connection.driver_connection
        self.remake: list[str] = []

    def begin(self) -> None:
        run = self.connection.exec_driver_sql
        run("SET LOCAL synchronous_commit = off")
        run("SET LOCAL maintenance_work_mem = '1GB'")
        tables = list(TABLES)
        keys = run(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
            " FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text = ANY(%(t)s)"
            " ORDER BY 1, 2",
            {"t": tables},
        ).all()
        indexes = run(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x"
            " JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid"
            " WHERE t.relname = ANY(%(t)s)"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)"
            " ORDER BY 1",
            {"t": tables},
        ).all()
        for table, name, _definition in keys:
            run(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, definition in indexes:
            run(f'DROP INDEX "{name}"')
            self.remake.append(definition)
        self.remake += [
            f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
            for table, name, definition in keys
        ]

    def write(self, table: str, rows) -> None:
        statement = f"COPY {table} ({', '.join(TABLES[table])}) FROM STDIN"
        with self.driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)

    def finish(self) -> None:
        run = self.connection.exec_driver_sql
        for sql in self.remake:
            run(sql)
        for table in NUMBERED:
            run(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"  # noqa: S608 - ours
                f" (SELECT max(id) FROM {table}))"
            )
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as auto:
            auto.exec_driver_sql(f"VACUUM (ANALYZE) {', '.join(TABLES)}")

    def restore(self) -> None:
        """Nothing to do: the rollback undid the dropped indexes and keys too."""


_WRITERS = {"sqlite": _SQLiteWriter, "postgresql": _PostgresWriter}
# From this many cases the rows are made by MAKERS child processes while this one writes.
FORK_FROM = 20_000
MAKERS = 2


def bulk_seed(
    cases: int,
    *,
    seed: int = 7,
    years: float = 5,
    open_share: float = 0.03,
    towns_now: datetime | None = None,
    towns: int = 1,
) -> dict:
    """Add `cases` cases received over the `years` before `towns_now` (default: now) to
    the town in the database, with their events, assignments, parties, words and digests
    (see the module's docstring), and commit. Returns a summary: how many rows of each
    table, how many cases open, overdue, supervised and awaiting review, the first
    seeded case id, and the seconds it took (`load_seconds`: the rows alone). With
    `towns` above 1, the cases are shared in turn among that many towns of the district
    (`district_towns`: the demo's first town and copies of it)."""
    started = time.perf_counter()
    moment = (towns_now or clock.now()).astimezone(UTC).replace(microsecond=0)
    loaded_towns = [_load_town(town_id) for town_id in district_towns(towns)]
    first = {
        table: (db.session.scalar(text(f"SELECT max(id) FROM {table}")) or 0) + 1  # noqa: S608
        for table in NUMBERED
    }
    dialect = db.session.connection().dialect.name
    # The cases land in months the sweep may have kept already (a database seeded
    # before): their kept figures would not count them, and nothing of the workflow's
    # marks them stale. Forget them all; the sweep (or the benchmark) keeps them again.
    for kept in (MonthlyFigures, MonthlyReceived, TownMonthlyFigures):
        db.session.execute(delete(kept))
    clocks = _Clocks((moment - timedelta(days=366 * years)).date(), moment.date())
    generator = _Generator(
        loaded_towns, clocks, dialect, cases=cases, seed=seed, years=years, open_share=open_share,
        now=int(moment.timestamp()), first=first,
    )  # fmt: skip
    db.session.commit()  # the reads are over; the writer begins its own transaction
    if dialect == "sqlite":
        # Alone on the file, the load may keep its rollback journal in memory.
        db.session.close()
        db.engine.dispose()
    batches = _made_apart(generator) if cases >= FORK_FROM else generator.batches()
    writer = _WRITERS[dialect](db.session.connection(), first)
    counts = dict.fromkeys(TABLES, 0)
    try:
        writer.begin()
        for rows in batches:
            for table, batch in rows.items():
                if table in ROW_NUMBERED:  # numbered on, in the order they are written
                    start = first[table] + counts[table]
                    batch = [(number, *row) for number, row in enumerate(batch, start)]
                if batch:
                    writer.write(table, batch)
                    counts[table] += len(batch)
        loaded = time.perf_counter() - started
        writer.finish()
    except BaseException:
        db.session.rollback()  # nothing of it stays, the dropped indexes neither
        writer.restore()
        raise
    return {
        "cases": counts["case_file"],
        "events": counts["case_event"],
        "assignments": counts["case_assignment"],
        "parties": counts["case_party"],
        "digests": counts["case_identity_digest"],
        **generator.counts,
        "first_case_id": first["case_file"],
        "database": dialect,
        "load_seconds": round(loaded, 1),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _made_apart(generator: _Generator, makers: int = MAKERS) -> Iterator[dict]:
    """The generator's batches, made by `makers` forked child processes (batch n by child
    n % makers) while this one writes those before: Python makes rows beside the database
    taking them. The children touch no database; their counts come with their last word."""
    app = current_app._get_current_object()
    context = multiprocessing.get_context("fork")

    def make(child: int, sending) -> None:
        try:
            with app.app_context():
                db.engine.dispose(close=False)  # the parent's connections are not ours
                for number in range(child, generator.batch_count, makers):
                    sending.send(("rows", generator.batch(number)))
                sending.send(("done", generator.counts))
        except BaseException:  # told to the parent, which raises it
            sending.send(("error", traceback.format_exc()))
        finally:
            sending.close()

    pipes, children = [], []
    for child in range(makers):
        receiving, sending = context.Pipe(duplex=False)
        process = context.Process(target=make, args=(child, sending), daemon=True)
        process.start()
        sending.close()
        pipes.append(receiving)
        children.append(process)
    try:
        for number in range(generator.batch_count):
            yield _heard(pipes[number % makers], "rows")
        for receiving in pipes:
            for key, n in _heard(receiving, "done").items():
                generator.counts[key] += n
    finally:
        for receiving, process in zip(pipes, children, strict=True):
            receiving.close()
            process.join(10)
            if process.is_alive():
                process.kill()


def _heard(pipe, expected: str):
    """The next message from a child making rows, of the kind expected."""
    kind, payload = pipe.recv()
    if kind != expected:
        raise RuntimeError(f"making the rows failed:\n{payload}")
    return payload


def main() -> None:
    """Migrate the database, load the demo town when it is empty, seed, print a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--years", type=float, default=5)
    parser.add_argument("--open-share", type=float, default=0.03)
    parser.add_argument("--towns", type=int, default=1, help="towns sharing the cases")
    parser.add_argument("--now", type=datetime.fromisoformat, help="ISO, with its zone")
    args = parser.parse_args()
    if not args.database_url:
        parser.error("give --database-url (or DATABASE_URL)")
    from flask_migrate import upgrade

    from server import create_app, demo

    with tempfile.TemporaryDirectory() as folder:
        os.environ.setdefault("INSTANCE_PATH", folder)
        app = create_app({"DATABASE_URL": args.database_url})
        with app.app_context():
            started = time.perf_counter()
            upgrade()
            if not db.session.scalar(select(func.count()).select_from(Village)):
                demo.seed()
                db.session.commit()
            print(f"migrated, demo town in: {time.perf_counter() - started:.1f} s", flush=True)
            summary = bulk_seed(
                args.cases, seed=args.seed, years=args.years, open_share=args.open_share,
                towns_now=args.now, towns=args.towns,
            )  # fmt: skip
            print(" ".join(f"{key}={value}" for key, value in summary.items()))
            print(f"seeded {summary['cases']:,} cases in {summary['seconds']:.0f} s")


if __name__ == "__main__":
    main()
