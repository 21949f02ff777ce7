"""Ledgers (台账) as Excel files, written streaming (openpyxl's write-only mode): rows are
read from the database in batches and written out, so a district's year never sits in
memory. Headers in Chinese, times in the town's zone, and never an informant's identity.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from server.cases.workflow import SATISFACTION
from server.db import db
from server.figures import cells
from server.figures.periods import Period
from server.infra import clock, codes
from server.models import Case, CaseEvent, Category, CategoryGroup, Screening, User, Village

BATCH = 1000


def _when(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return clock.local(moment).strftime(fmt) if moment else ""


HAZARDS = {CategoryGroup.SECURITY_HAZARD, CategoryGroup.SAFETY_HAZARD, CategoryGroup.ENFORCEMENT}
# Which cases each case ledger lists (None: all of them).
GROUPS = {"disputes": {CategoryGroup.DISPUTE}, "hazards": HAZARDS, "cases": None}


def _in_period(query, period: Period, groups: set[CategoryGroup] | None, town_id: int | None):
    start, end = period.bounds
    query = query.where(Case.created_at >= start, Case.created_at < end, Case.status != "merged")
    if town_id is not None:  # a town's own ledger; the district's (None) holds every town's
        query = query.where(Case.town_id == town_id)
    if groups:
        query = query.join(Category).where(Category.group.in_([g.value for g in groups]))
    return query


def _town_screenings(query, town_id: int | None):
    if town_id is None:
        return query
    return query.where(
        Screening.village_id.in_(select(Village.id).where(Village.town_id == town_id))
    )


def count(kind: str, period: Period, town_id: int | None = None) -> int:
    """How many rows ledger `kind` has for `period` (for an export's progress), of the
    town `town_id` (None: every town's)."""
    if kind == "screenings":
        start, end = period.bounds
        query = select(func.count(Screening.id)).where(
            Screening.screened_at >= start, Screening.screened_at < end
        )
        query = _town_screenings(query, town_id)
    else:
        query = _in_period(select(func.count(Case.id)), period, GROUPS[kind], town_id)
    return db.session.scalar(query) or 0


def _cases(
    period: Period, groups: set[CategoryGroup] | None, town_id: int | None
) -> Iterator[Case]:
    query = _in_period(select(Case), period, groups, town_id)
    query = (
        query.options(
            selectinload(Case.parties),
            selectinload(Case.village),
            selectinload(Case.category),
            selectinload(Case.lead_department),
        )
        .order_by(Case.created_at, Case.id)
        .execution_options(yield_per=BATCH)
    )
    yield from db.session.scalars(query)


def _steps_of(case_ids: list[int]) -> tuple[dict[int, dict[str, datetime]], Counter]:
    """When each step of these cases first happened (the last result and closing count),
    and how often each was reopened, read in one query for the whole batch."""
    steps: dict[int, dict[str, datetime]] = {case_id: {} for case_id in case_ids}
    reopened: Counter = Counter()
    rows = db.session.execute(
        select(CaseEvent.case_id, CaseEvent.action, CaseEvent.at)
        .where(CaseEvent.case_id.in_(case_ids))
        .order_by(CaseEvent.id)
    )
    for case_id, action, at in rows:
        firsts = steps[case_id]
        firsts.setdefault(action, at)
        if action in {"resolve", "close"}:
            firsts[action] = at
        reopened[case_id] += action == "reopen"
    return steps, reopened


def _batches(items: Iterator[Case], size: int = BATCH) -> Iterator[list[Case]]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _dispute_rows(period: Period, town_id: int | None):
    yield [
        "序号",
        "案件编号",
        "登记日期",
        "村",
        "纠纷类别",
        "申请人",
        "被申请人",
        "涉及人数",
        "群体性",
        "民转刑风险",
        "重复纠纷",
        "纠纷简要情况",
        "调处部门",
        "调处结果",
        "办结日期",
        "回访满意度",
        "结案日期",
        "重开次数",
        "当前状态",
    ]
    number = 0
    for batch in _batches(_cases(period, GROUPS["disputes"], town_id)):
        _steps, reopened = _steps_of([case.id for case in batch])
        for case in batch:
            number += 1
            sides = {"applicant": [], "respondent": []}
            for party in case.parties:
                sides[party.side.value].append(party.name)
            yield [
                number,
                codes.display(case.code),
                _when(case.created_at, "%Y-%m-%d"),
                case.village.name,
                case.category.name,
                "、".join(sides["applicant"]),
                "、".join(sides["respondent"]),
                case.people_involved,
                _yes(case.group_dispute),
                _yes(case.criminal_risk),
                _yes(case.repeat_dispute),
                case.description[:500],
                case.lead_department.name if case.lead_department else "",
                case.result_code.label if case.result_code else "",
                _when(case.resolved_at, "%Y-%m-%d"),
                _satisfaction(case.satisfaction),
                _when(case.closed_at, "%Y-%m-%d"),
                reopened[case.id],
                case.status.label,
            ]


def _yes(value: bool) -> str:
    return "是" if value else "否"


def _satisfaction(value: str | None) -> str:
    return SATISFACTION.get(value or "", "")


def _hazard_rows(period: Period, town_id: int | None):
    yield [
        "序号",
        "编号",
        "发现日期",
        "村",
        "隐患类别",
        "风险等级",
        "地点",
        "隐患情况",
        "处置部门",
        "处置结果",
        "处置日期",
        "当前状态",
    ]
    for number, case in enumerate(_cases(period, GROUPS["hazards"], town_id), start=1):
        yield [
            number,
            codes.display(case.code),
            _when(case.created_at, "%Y-%m-%d"),
            case.village.name,
            case.category.name,
            case.risk_level.label,
            case.place_text or "",
            case.description[:500],
            case.lead_department.name if case.lead_department else "",
            case.result_code.label if case.result_code else "",
            _when(case.resolved_at, "%Y-%m-%d"),
            case.status.label,
        ]


def _case_rows(period: Period, town_id: int | None):
    actions = [
        ("submit", "上报"),
        ("accept", "受理"),
        ("dispatch", "派遣"),
        ("sign_for", "签收"),
        ("resolve", "办结"),
        ("verify", "核查"),
        ("record_visit", "回访"),
        ("close", "结案"),
    ]
    yield [
        "案件编号",
        "类别",
        "分组",
        "村",
        "来源",
        "风险等级",
        *[label for _a, label in actions],
        "重开次数",
        "当前状态",
        "督办",
    ]
    for batch in _batches(_cases(period, GROUPS["cases"], town_id)):
        steps_of, reopened = _steps_of([case.id for case in batch])
        for case in batch:
            steps = steps_of[case.id]
            yield [
                codes.display(case.code),
                case.category.name,
                case.category.group.label,
                case.village.name,
                case.source.label,
                case.risk_level.label,
                *[_when(steps.get(action)) for action, _label in actions],
                reopened[case.id],
                case.status.label,
                "是" if case.supervised else "",
            ]


def _screening_rows(period: Period, town_id: int | None):
    yield ["村", "排查时间", "网格员", "排查类别数", "结果", "发现问题数"]
    start, end = period.bounds
    query = (
        select(Screening, Village.name, User.display_name)
        .join(Village, Village.id == Screening.village_id)
        .join(User, User.id == Screening.user_id)
        .where(Screening.screened_at >= start, Screening.screened_at < end)
        .order_by(Village.code, Screening.screened_at)
        .execution_options(yield_per=BATCH)
    )
    for item, village, worker in db.session.execute(_town_screenings(query, town_id)):
        found = (
            db.session.scalar(select(db.func.count(Case.id)).where(Case.screening_id == item.id))
            or 0
        )
        yield [
            village,
            _when(item.screened_at),
            worker,
            len(item.checked or []),
            "零报告" if item.nil_return else "有发现",
            found,
        ]


KINDS: dict[str, tuple[str, Callable]] = {
    "disputes": ("矛盾纠纷排查调处台账", _dispute_rows),
    "hazards": ("隐患排查台账", _hazard_rows),
    "cases": ("案件办理明细", _case_rows),
    "screenings": ("排查记录", _screening_rows),
}


def write(
    kind: str,
    period: Period,
    target,
    *,
    progress: Callable[[int], None] | None = None,
    town_id: int | None = None,
) -> int:
    """Write ledger `kind` for `period` to `target` (a path or a binary file), of the town
    `town_id` (None: every town's, the district's); rows written."""
    # openpyxl is loaded by the first spreadsheet a worker writes, not at start-up
    # (16 MiB a worker: benchmarks/bench_memory.py).
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    title, rows = KINDS[kind]
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    bold = Font(bold=True)
    count = 0
    for index, row in enumerate(rows(period, town_id)):
        if index == 0:
            heading = []
            for value in row:
                cell = WriteOnlyCell(sheet, value=cells.inert(value))
                cell.font = bold
                heading.append(cell)
            sheet.append(heading)
            continue
        sheet.append(cells.row(sheet, row))
        count += 1
        if progress and count % BATCH == 0:
            progress(BATCH)
    book.save(target)
    return count
