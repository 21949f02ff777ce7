"""The dashboard, the monthly/yearly report and its Excel copy (center, leaders, admin)."""

from __future__ import annotations

import io
from datetime import timedelta

from flask import Response, render_template, request
from sqlalchemy import select

from admin.blueprint import bp, id_value, require
from server import clock, statistics
from server.deadlines import load_calendar, unconfirmed_next_year
from server.extensions import db
from server.models import Category, Role, Village

FIGURE_ROLES = (Role.CENTER, Role.LEADER, Role.ADMIN)


def _period() -> statistics.Period:
    args = request.args
    return statistics.parse_period(args.get("kind", "month"), args.get("value", ""),
                                   start=args.get("from", ""), end=args.get("to", ""))


def _figures(period):
    from flask import current_app

    return statistics.compute(period, village_id=id_value(request.args.get("village"), "village"),
                              category_code=request.args.get("category") or None,
                              required_screenings=int(current_app.config["SCREENINGS_PER_MONTH"]),
                              required_weekly=int(current_app.config["SCREENINGS_PER_WEEK"]))


def _percent(value) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


@bp.get("/dashboard")
@require(*FIGURE_ROLES)
def dashboard():
    """Figures of a period as charts, each with its numbers one click away."""
    period = _period()
    figures = _figures(period)
    return render_template(
        "admin/dashboard.html", f=figures, period=period, percent=_percent,
        rolling=statistics.rolling_year(), last_day=period.end - timedelta(days=1),
        calendar_warning=unconfirmed_next_year(load_calendar(),
                                               clock.local(clock.now()).date()),
        worst=[(name, open_count) for name, open_count, _late in figures.worst_villages],
        args=request.args, labels=statistics.STEP_LABELS,
        villages=db.session.scalars(select(Village).order_by(Village.code)).all(),
        categories=db.session.scalars(select(Category).order_by(Category.sort_order)).all())


@bp.get("/report")
@require(*FIGURE_ROLES)
def report():
    """The period's figures in the sentences and tables the town's reports use."""
    period = _period()
    return render_template("admin/report.html", f=_figures(period), period=period,
                           percent=_percent, labels=statistics.STEP_LABELS,
                           printed_at=clock.now())


@bp.get("/report.xlsx")
@require(*FIGURE_ROLES)
def report_xlsx():
    """The same report as an Excel workbook."""
    from openpyxl import Workbook

    period = _period()
    f = _figures(period)
    book = Workbook()
    sheet = book.active
    sheet.title = "统计"
    sheet.append([f"{period.label}矛盾纠纷排查调处统计"])
    for label, value in [
        ("收到报告（件次）", f.received), ("受理", f.accepted), ("办结", f.resolved),
        ("结案", f.closed), ("调处矛盾纠纷", f.disputes_handled),
        ("调解（件）", f.mediations), ("调解成功（件）", f.mediations_succeeded),
        ("化解率", _percent(f.resolution_rate)), ("重开案件", f.reopened),
        ("重开率", _percent(f.reopen_rate)), ("重复纠纷", f.repeat_disputes),
        ("发现隐患", f.hazards_found),
        ("消除隐患", f.hazards_removed), ("回访", f.follow_ups),
        ("满意率", _percent(f.satisfaction_rate)), ("排查次数", f.screenings),
        ("零报告", f.nil_returns), ("排查达标村数", f"{f.villages_screened}/{f.villages}"),
    ]:
        sheet.append([label, value])
    for title, mapping in (("按分组", f.received_by_group), ("按类别", f.received_by_category),
                           ("按村", f.received_by_village), ("按来源", f.received_by_source)):
        table = book.create_sheet(title)
        table.append([title.removeprefix("按"), "件次"])
        for key, value in mapping.items():
            table.append([key, value])
    out = io.BytesIO()
    book.save(out)
    return Response(out.getvalue(), mimetype="application/vnd.openxmlformats-officedocument."
                                             "spreadsheetml.sheet",
                    headers={"Content-Disposition": "attachment; filename=report.xlsx"})
