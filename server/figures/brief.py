"""The joint meeting's brief (联席会研判): what in a month may become unstable, in the
town's sentences ("每月定时召开党委联席会，研究分析辖区内的不稳定因素"), each item with
the cases it counts.

The month is a calendar month on the town's clock. Its items, and exactly which cases
each one counts (`conditions` is the one definition: the brief counts by it and its case
lists select by it, through the access policy):

- 类别上升 (categories rising): reports received in the month (merged duplicates
  aside), by category, against the month before and the same month a year earlier; a
  category is rising when it has at least `RISING_MIN` this month and more than in
  either of the others. Its cases: that category's reports of the month.
- 重复纠纷 (repeat disputes): disputes received in the month between the same parties as
  an earlier one (server/cases/repeats.py), neither merged nor rejected.
- 群体性纠纷 (group disputes): disputes marked a group dispute by the center, or involving
  at least `GROUP_PEOPLE` people (the common threshold of 群体性事件 warnings), received
  in the month or still open.
- 民转刑风险 (may turn criminal): disputes received in the month or still open that the
  center marked 民转刑, or rated red, or that the reporter said were happening now
  (a fight), or that repeat between the same parties in a category where quarrels most
  often turn violent (`VIOLENCE_PRONE`: 婚姻家庭, 邻里, 房屋宅基地, 山林土地).
- 超期和督办 (overdue or supervised): open cases past their step's due time, or under
  supervision (督办), when the brief is read.
- 排查空白 (screening gaps): villages still served that filed fewer screenings in the
  month than the monthly duty (SCREENINGS_PER_MONTH); a village has no cases to list,
  so its line links to its open cases.

"Still open" and "overdue" are read when the brief is: a brief of a past month shows
what of it still stands today. Every count is one SQL query (a GROUP BY for the
categories and the villages).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import and_, func, or_, select, union_all

from server.cases import access
from server.db import db
from server.figures.periods import Period, month
from server.figures.statistics import with_towns
from server.infra import clock
from server.infra.errors import ValidationFailed
from server.models import (
    Case,
    CaseStatus,
    Category,
    CategoryGroup,
    RiskLevel,
    Screening,
    User,
    Village,
)
from server.models.places import in_service_since

RISING_MIN = 2
GROUP_PEOPLE = 5
VIOLENCE_PRONE = ("D01", "D02", "D03", "D07")  # 婚姻家庭, 邻里, 房屋宅基地, 山林土地
PREVIEW = 10

TITLES = {
    "rising": "类别上升",
    "repeat": "重复纠纷",
    "group": "群体性纠纷",
    "criminal": "民转刑风险",
    "overdue": "超期和督办",
    "screening": "排查空白",
}
CASE_ITEMS = ("rising", "repeat", "group", "criminal", "overdue")


def neighbours(period: Period) -> tuple[Period, Period]:
    """The month before `period` and the same month a year earlier."""
    first = period.start
    before = date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)
    return month(before.year, before.month), month(first.year - 1, first.month)


def _received(period: Period) -> list:
    start, end = period.bounds
    return [Case.created_at >= start, Case.created_at < end, Case.status != CaseStatus.MERGED]


def _disputes():
    """Disputes, tested row by row (`category_id + 0`, which no index serves): the items
    that ask it are read from the month's and the open cases' indexes, and a planner
    without statistics (SQLite's) would otherwise walk every dispute ever reported.

    The categories' ids are given as values, read first: asked as a subquery, PostgreSQL
    joined each dispute category to the cases and read the month's and the open cases
    once per category (18 times: 470 ms for one item at a million cases, 26 ms once)."""
    ids = db.session.scalars(select(Category.id).where(Category.group == CategoryGroup.DISPUTE))
    return (Case.category_id + 0).in_(ids.all())


def _this_month_or_open(period: Period):
    """Received in the month, or open now, each side read from its own index (the
    received time's; the partial index of open cases), in the form each database reads
    so. PostgreSQL: an OR, read as a BitmapOr of the two (as `id IN (a UNION b)` it
    scanned every case of the district beside the union: 509 ms against 154 at a million
    cases a year). SQLite: `id IN (a UNION b)`, each case then found by its id (its OR
    optimisation takes only terms an index can look up, which `due_at IS NOT NULL` is
    not for a partial index of it: it scanned every case)."""
    start, end = period.bounds
    received = and_(Case.created_at >= start, Case.created_at < end)
    if db.session.get_bind().dialect.name == "postgresql":
        return or_(received, Case.due_at.is_not(None))
    return Case.id.in_(
        union_all(select(Case.id).where(received), select(Case.id).where(Case.due_at.is_not(None)))
    )


def conditions(item: str, period: Period, category: str | None = None) -> list:
    """The WHERE clause selecting exactly the cases of `item` (see the module)."""
    taken = Case.status.not_in([CaseStatus.MERGED, CaseStatus.REJECTED])
    if item == "rising":
        if not category:
            raise ValidationFailed("请指明类别。", code="invalid_parameter", field="category")
        return [
            *_received(period),
            Case.category_id.in_(select(Category.id).where(Category.code == category)),
        ]
    if item == "repeat":
        start, end = period.bounds
        return [
            Case.repeat_dispute.is_(True),
            Case.created_at >= start,
            Case.created_at < end,
            taken,
        ]
    if item == "group":
        return [
            _disputes(),
            or_(Case.group_dispute.is_(True), Case.people_involved >= GROUP_PEOPLE),
            _this_month_or_open(period),
            taken,
        ]
    if item == "criminal":
        prone = Case.category_id.in_(select(Category.id).where(Category.code.in_(VIOLENCE_PRONE)))
        return [
            _disputes(),
            or_(
                Case.criminal_risk.is_(True),
                Case.risk_level == RiskLevel.RED,
                Case.happening_now.is_(True),
                Case.repeat_dispute.is_(True) & prone,
            ),
            _this_month_or_open(period),
            taken,
        ]
    if item == "overdue":
        return [
            Case.due_at.is_not(None),
            or_(Case.due_at < clock.now(), Case.supervised.is_(True)),
        ]
    raise ValidationFailed("未知的研判事项。", code="invalid_parameter", field="item")


def _town_of(viewer: User | None) -> list:
    """The brief's counts are a town's: its reader's (the district's: every town's; None:
    no person asks, as in a benchmark). The town is tested row by row, as the access
    policy tests it (`town_id + 0`: the item's own index leads)."""
    return [access.in_users_town(viewer, Case.town_id + 0)] if viewer is not None else []


def _count(where, viewer: User | None = None) -> int:
    """How many cases `where` holds in `viewer`'s town."""
    where = [*where, *_town_of(viewer)]
    return db.session.scalar(select(func.count()).select_from(Case).where(*where)) or 0


@dataclass
class CategoryChange:
    code: str
    name: str
    now: int
    last_month: int
    last_year: int


@dataclass
class Item:
    key: str
    title: str
    count: int
    sentence: str
    cases: list[Case] = field(default_factory=list)  # the first few, newest first
    parts: dict[str, int] = field(default_factory=dict)


@dataclass
class Gap:
    village_id: int
    name: str
    screenings: int


@dataclass
class Brief:
    period: Period
    received: int
    received_last_month: int
    received_last_year: int
    rising: list[CategoryChange]
    items: dict[str, Item]
    gaps: list[Gap]
    required: int
    read_at: object = None

    def paragraphs(self) -> list[str]:
        """The brief's text, as the town writes it."""
        label = self.period.label

        def against(now: int, then: int, name: str) -> str:
            if now == then:
                return f"与{name}（{then}件次）持平"
            word = "增加" if now > then else "减少"
            return f"较{name}（{then}件次）{word}{abs(now - then)}件次"

        out = [
            f"{label}，全镇共收到各类报告{self.received}件次，"
            f"{against(self.received, self.received_last_month, '上月')}，"
            f"{against(self.received, self.received_last_year, '去年同月')}。"
        ]
        out += [item.sentence for item in self.items.values()]
        return out


def _by_category(period: Period, viewer: User | None) -> dict[str, int]:
    scope = _town_of(viewer)
    return dict(
        db.session.execute(
            select(Category.code, func.count())
            .select_from(Case)
            .join(Category, Category.id == Case.category_id)
            .where(*_received(period), *scope)
            .group_by(Category.code)
        ).all()
    )


def _preview(where, viewer: User | None) -> list[Case]:
    """The newest few cases of an item, as `viewer` may see them (the one access policy;
    None: no person asks, as in a benchmark)."""
    if viewer is not None:
        where = [*where, access.case_filter(viewer)]
    return list(
        db.session.scalars(select(Case).where(*where).order_by(Case.id.desc()).limit(PREVIEW))
    )


def _item(key: str, period: Period, viewer: User | None, say) -> Item:
    """An item whose sentence needs only its count: its cases, counted and previewed."""
    where = conditions(key, period)
    n = _count(where, viewer)
    return Item(key, TITLES[key], n, say(n), _preview(where, viewer))


def compute(period: Period, *, required: int = 2, viewer: User | None = None) -> Brief:
    """The brief of `period` (a month); `required`: the monthly screening duty; `viewer`:
    who reads it (each item's preview of cases goes through the access policy)."""
    last_month, last_year = neighbours(period)
    now, before, year_ago = (_by_category(p, viewer) for p in (period, last_month, last_year))
    names = dict(db.session.execute(select(Category.code, Category.name)).all())
    rising = sorted(
        (
            CategoryChange(code, names[code], n, before.get(code, 0), year_ago.get(code, 0))
            for code, n in now.items()
            if n >= RISING_MIN and (n > before.get(code, 0) or n > year_ago.get(code, 0))
        ),
        key=lambda c: (-(c.now - c.last_month), -c.now, c.code),
    )
    items: dict[str, Item] = {}
    if rising:
        lines = "；".join(
            f"{c.name}{c.now}件（上月{c.last_month}件，去年同月{c.last_year}件）" for c in rising
        )
        sentence = f"一是部分类别上升：{lines}，须分析原因、提前防范。"
    else:
        sentence = "一是各类别报告数量未见上升。"
    items["rising"] = Item("rising", TITLES["rising"], len(rising), sentence)

    items["repeat"] = _item(
        "repeat",
        period,
        viewer,
        lambda n: (
            f"二是同一当事人再次发生的重复纠纷{n}件，"
            + ("须查明前次调处未能化解的原因，防止矛盾激化。" if n else "本月未发现。")
        ),
    )
    items["group"] = _item(
        "group",
        period,
        viewer,
        lambda n: (
            f"三是群体性纠纷（{GROUP_PEOPLE}人以上或经研判为群体性）{n}件，"
            + ("须明确包案领导，防止发生群体性事件。" if n else "本月未发现。")
        ),
    )

    criminal = conditions("criminal", period)
    n = _count(criminal, viewer)
    base = [criminal[0], *criminal[2:]]  # the same cases, without the reasons
    parts = {
        "标记民转刑风险": _count([*base, Case.criminal_risk.is_(True)], viewer),
        "红色风险": _count([*base, Case.risk_level == RiskLevel.RED], viewer),
        "正在发生": _count([*base, Case.happening_now.is_(True)], viewer),
        "婚姻家庭、邻里等重复纠纷": _count(
            [
                *base,
                Case.repeat_dispute.is_(True),
                Case.category_id.in_(select(Category.id).where(Category.code.in_(VIOLENCE_PRONE))),
            ],
            viewer,
        ),
    }
    detail = "、".join(f"{k}{v}件" for k, v in parts.items() if v)
    items["criminal"] = Item(
        "criminal",
        TITLES["criminal"],
        n,
        f"四是存在民转刑风险的纠纷{n}件"
        + (f"（{detail}，一件可能同属几类）" if detail else "")
        + ("，须落实稳控措施，必要时通报派出所提前介入。" if n else "。"),
        _preview(criminal, viewer),
        parts,
    )

    overdue = conditions("overdue", period)
    n = _count(overdue, viewer)
    late = _count([Case.due_at.is_not(None), Case.due_at < clock.now()], viewer)
    supervised = _count([Case.due_at.is_not(None), Case.supervised.is_(True)], viewer)
    items["overdue"] = Item(
        "overdue",
        TITLES["overdue"],
        n,
        f"五是目前超期未办结{late}件、督办中{supervised}件（合计{n}件），"
        + ("请责任单位说明原因、限期办结。" if n else "无超期和督办案件。"),
        _preview(overdue, viewer),
        {"超期": late, "督办": supervised},
    )

    start, end = period.bounds
    counts = dict(
        db.session.execute(
            select(Screening.village_id, func.count())
            .where(Screening.screened_at >= start, Screening.screened_at < end)
            .group_by(Screening.village_id)
        ).all()
    )
    town = (
        [Village.town_id == viewer.town_id]
        if viewer is not None and viewer.town_id is not None
        else []
    )
    served = dict(
        db.session.execute(
            select(Village.id, Village.name)
            .where(in_service_since(start), *town)
            .order_by(Village.code)
        ).all()
    )
    if not town:  # the district's: each village after its town, as its figures name them
        served = with_towns(served)
    gaps = [
        Gap(v, name, counts.get(v, 0)) for v, name in served.items() if counts.get(v, 0) < required
    ]
    if gaps:
        names_ = "、".join(f"{g.name}（{g.screenings}次）" for g in gaps)
        sentence = (
            f"六是{len(gaps)}个村排查未达每月{required}次的要求：{names_}，"
            "须督促补查，做到排查无盲区。"
        )
    else:
        sentence = f"六是各村均完成每月{required}次排查。"
    items["screening"] = Item("screening", TITLES["screening"], len(gaps), sentence)

    received = _count(_received(period), viewer)
    return Brief(
        period,
        received,
        _count(_received(last_month), viewer),
        _count(_received(last_year), viewer),
        rising,
        items,
        gaps,
        required,
        clock.now(),
    )


def case_page(
    user: User,
    period: Period,
    item: str,
    *,
    category: str | None = None,
    after: int | None = None,
    limit: int = 50,
) -> tuple[list[Case], int | None]:
    """The cases of one item that `user` may see, newest first, `limit` at a time, and
    where the next page starts (None: no more)."""
    if item not in CASE_ITEMS:
        raise ValidationFailed("未知的研判事项。", code="invalid_parameter", field="item")
    query = select(Case).where(*conditions(item, period, category), access.case_filter(user))
    if after is not None:
        query = query.where(Case.id < after)
    rows = list(db.session.scalars(query.order_by(Case.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].id if more and rows else None
