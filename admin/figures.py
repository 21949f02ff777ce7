"""The dashboard, the monthly/yearly report and its Excel copy (center, leaders, admin)."""

from __future__ import annotations

import io
from datetime import timedelta

from flask import Response, current_app, g, render_template, request, url_for
from sqlalchemy import select

from admin.blueprint import attachment, bp, client_ip, id_value, require
from server.cases import access
from server.db import db
from server.figures import cells, statistics, withheld
from server.infra import clock
from server.models import Category, CategoryGroup, Role, Source, Village
from server.organisation.deadlines import load_calendar, unconfirmed_year
from server.trust import audit

FIGURE_ROLES = (Role.CENTER, Role.LEADER, Role.ADMIN)
# Who opens the cases behind a number (admin.queue's CASE_ROLES): for the system admin,
# who sees no case, the numbers are not links (each answered 无权访问).
OPEN_CASES = (Role.CENTER, Role.LEADER, Role.HANDLER)


def _period() -> statistics.Period:
    args = request.args
    return statistics.parse_period(
        args.get("kind", "month"),
        args.get("value", ""),
        start=args.get("from", ""),
        end=args.get("to", ""),
    )


def _figures(period):
    """The period's figures, narrowed by the page's village and category, as the signed-in
    user may read them (no small confidential cell for anyone but the center)."""
    village_id = id_value(request.args.get("village"), "village")
    code = request.args.get("category") or None
    category = db.session.scalar(select(Category).where(Category.code == code)) if code else None
    access.check_breakdown(g.user, village_id=village_id, category=category)
    figures = statistics.compute(
        period,
        village_id=village_id,
        category_code=code,
        required_screenings=int(current_app.config["SCREENINGS_PER_MONTH"]),
        required_weekly=int(current_app.config["SCREENINGS_PER_WEEK"]),
        town_id=g.user.town_id,
    )
    return withheld.for_reader(
        figures, g.user, village_id=village_id, category=category, threshold=_threshold()
    )


def _threshold() -> int:
    return int(current_app.config["DISCLOSURE_MIN_COUNT"])


def _withheld_note() -> str:
    return withheld.note(_threshold())


def _percent(value) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _linked(figures, period, categories) -> dict:
    """Each bar of the dashboard with the link to the cases it counts: (label, n, href).

    The links carry the page's own narrowing (village, category), so a bar of a
    village's dashboard lists that village's cases only."""
    scope = {k: request.args[k] for k in ("village", "category") if request.args.get(k)}
    last_day = period.end - timedelta(days=1)

    def received(first=period.start, last=last_day, **narrow):
        return url_for(
            "admin.counted",
            event="submit",
            **{"from": first.isoformat(), "to": last.isoformat()},
            **(scope | narrow),
        )

    def month_link(label, event="submit"):
        y, m = (int(part) for part in label.split("-"))
        first, after = statistics.month(y, m).start, statistics.month(y, m).end
        first, last = max(first, period.start), min(after - timedelta(days=1), last_day)
        return url_for(
            "admin.counted",
            event=event,
            **{"from": first.isoformat(), "to": last.isoformat()},
            **scope,
        )

    category_codes = {c.name: c.code for c in categories}
    groups = {g.label: g.value for g in CategoryGroup}
    sources = {s.label: s.value for s in Source}
    return {
        "trend": [(label, n, month_link(label)) for label, n in figures.trend],
        "group": [
            (label, n, received(group=groups[label]))
            for label, n in figures.received_by_group.items()
        ],
        "source": [
            (label, n, received(source=sources[label]))
            for label, n in figures.received_by_source.items()
        ],
        "category": [
            (name, n, received(category=category_codes[name]))
            for name, n in list(figures.received_by_category.items())[:10]
        ],
        "village": [
            (name, n, received(village=figures.village_ids[name]))
            for name, n in list(figures.received_by_village.items())[:10]
        ],
        "worst": [
            (name, n, url_for("admin.index", village=figures.village_ids[name]))
            for name, n, _late in figures.worst_villages
        ],
        "scope": scope,
    }


def _rolling_links(rows) -> list[tuple]:
    """The twelve months with the links of their received and closed bars."""
    out = []
    for label, received, closed, late in rows:
        y, m = (int(part) for part in label.split("-"))
        span = statistics.month(y, m)
        days = {"from": span.start.isoformat(), "to": (span.end - timedelta(days=1)).isoformat()}
        out.append(
            (
                label,
                received,
                closed,
                late,
                url_for("admin.counted", event="submit", **days),
                url_for("admin.counted", event="close", **days),
            )
        )
    return out


@bp.get("/dashboard")
@require(*FIGURE_ROLES)
def dashboard():
    """Figures of a period as charts, each with its numbers one click away and each
    number a link to the cases it counts."""
    period = _period()
    villages = db.session.scalars(
        select(Village).where(access.in_users_town(g.user, Village.town_id)).order_by(Village.code)
    ).all()
    categories = db.session.scalars(select(Category).order_by(Category.sort_order)).all()
    figures = _figures(period)
    opens_cases = g.user.role in OPEN_CASES
    links = _linked(figures, period, categories)
    rolling = _rolling_links(statistics.rolling_year(g.user.town_id))
    if not opens_cases:
        links = {k: [i[:2] for i in v] if isinstance(v, list) else v for k, v in links.items()}
        rolling = [(*row[:4], None, None) for row in rolling]
    return render_template(
        "admin/dashboard.html",
        f=figures,
        withheld_note=_withheld_note(),
        period=period,
        percent=_percent,
        links=links,
        rolling=rolling,
        opens_cases=opens_cases,
        last_day=period.end - timedelta(days=1),
        calendar_warning=unconfirmed_year(load_calendar(), clock.local(clock.now()).date()),
        args=request.args,
        labels=statistics.STEP_LABELS,
        villages=villages,
        categories=categories,
    )


@bp.get("/report")
@require(*FIGURE_ROLES)
def report():
    """The period's figures in the sentences and tables the town's reports use."""
    period = _period()
    return render_template(
        "admin/report.html",
        f=_figures(period),
        withheld_note=_withheld_note(),
        period=period,
        percent=_percent,
        labels=statistics.STEP_LABELS,
        printed_at=clock.now(),
    )


@bp.get("/report.xlsx")
@require(*FIGURE_ROLES)
def report_xlsx():
    """The same report as an Excel workbook."""
    from openpyxl import Workbook  # loaded with the first workbook (server/figures/cells.py)

    period = _period()
    f = _figures(period)
    book = Workbook()
    sheet = book.active
    sheet.title = "统计"
    sheet.append([f"{period.label}矛盾纠纷排查调处统计"])
    for label, value in [
        ("收到报告（件次）", f.received),
        ("受理", f.accepted),
        ("办结", f.resolved),
        ("结案", f.closed),
        ("调处矛盾纠纷", f.disputes_handled),
        ("调解（件）", f.mediations),
        ("调解成功（件）", f.mediations_succeeded),
        ("化解率", _percent(f.resolution_rate)),
        ("重开案件", f.reopened),
        ("重开率", _percent(f.reopen_rate)),
        ("重复纠纷", f.repeat_disputes),
        ("发现隐患", f.hazards_found),
        ("消除隐患", f.hazards_removed),
        ("回访", f.follow_ups),
        ("满意率", _percent(f.satisfaction_rate)),
        ("排查次数", f.screenings),
        ("零报告", f.nil_returns),
        ("排查达标村数", f"{f.villages_screened}/{f.villages}"),
    ]:
        sheet.append(cells.row(sheet, [label, value]))
    if f.small_cells_withheld:
        sheet.append([_withheld_note()])
    if f.by_town:  # the district's, in a deployment of several towns
        table = book.create_sheet("按镇")
        table.append(["镇", "本期收到", "当前未结", "当前超期"])
        for _id, *row in f.by_town:
            table.append(cells.row(table, row))
    for title, mapping in (
        ("按分组", f.received_by_group),
        ("按类别", f.received_by_category),
        ("按村", f.received_by_village),
        ("按来源", f.received_by_source),
    ):
        table = book.create_sheet(title)
        table.append([title.removeprefix("按"), "件次"])
        for key, value in mapping.items():
            table.append(cells.row(table, [key, value]))
    out = io.BytesIO()
    book.save(out)

    audit.record(
        "report.exported",
        actor=g.user,
        object_type="report",
        object_id=period.label,
        ip=client_ip(),
    )
    return Response(
        out.getvalue(),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers=attachment(f"统计报告_{period.label}.xlsx", "report.xlsx"),
    )
