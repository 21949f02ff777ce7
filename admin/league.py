"""考核 and 联席会研判: the month's league tables (page, Excel, 通报), their standards (the
system admin's), and the joint meeting's brief with each item's cases.

The rules live in server/figures/league.py and brief.py; these views read a month, call
them and render. The tables and the brief are for the center and leaders; the brief's
case lists go through the access policy like every case list.
"""

from __future__ import annotations

import io

from flask import Response, current_app, g, render_template, request, url_for

from admin.blueprint import attachment, bp, client_ip, done, id_value, refused, require
from server.figures import brief as briefing
from server.figures import league as lg
from server.figures.periods import Period, parse_period
from server.infra import codes
from server.infra.errors import ValidationFailed
from server.models import Role
from server.organisation import management
from server.trust import audit

READERS = (Role.CENTER, Role.LEADER)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _month() -> Period:
    """The month asked for (?value=2026-11 or 2026年11月), else the last complete one."""
    return parse_period("month", request.args.get("value", ""))


@bp.get("/league")
@require(*READERS)
def league_page():
    """The month's league tables (考核), ranked, with the month's 通报."""
    period = _month()
    league = lg.compute(period, town_id=g.user.town_id)
    return render_template(
        "admin/league.html",
        league=league,
        period=period,
        measures=lg.MEASURES,
        bulletin=lg.bulletin(league),
    )


@bp.get("/league.xlsx")
@require(*READERS)
def league_xlsx():
    """The month's league tables as an Excel workbook (audited, like every export)."""
    period = _month()
    out = io.BytesIO()
    lg.write_workbook(lg.compute(period, town_id=g.user.town_id), out)
    audit.record(
        "league.exported",
        actor=g.user,
        object_type="league",
        object_id=period.label,
        ip=client_ip(),
    )
    return Response(
        out.getvalue(),
        mimetype=XLSX,
        headers=attachment(f"考核排名_{period.label}.xlsx", "league.xlsx"),
    )


@bp.get("/league/bulletin")
@require(*READERS)
def league_bulletin():
    """The month's 考核通报, printable on A4."""
    period = _month()
    league = lg.compute(period, town_id=g.user.town_id)
    return render_template(
        "admin/league_bulletin.html", league=league, period=period, bulletin=lg.bulletin(league)
    )


def _standard_from_form(key: str) -> lg.Standard:
    form = request.form
    try:
        return lg.Standard(
            int(form.get(f"{key}_weight", "")),
            float(form.get(f"{key}_pass_mark", "")),
            int(form.get(f"{key}_min_sample", "") or 0),
        )
    except ValueError:
        raise ValidationFailed(
            f"{lg.MEASURES[key].label}：请填写数字。", code="invalid_standards"
        ) from None


@bp.route("/league/standards", methods=["GET", "POST"])
@require(Role.ADMIN)
def league_standards():
    """The standards of the tables: weights, pass marks, smallest samples (system admin)."""
    town_id = management.settings_town(g.user)
    if request.method == "POST":
        try:
            if request.form.get("follow_district"):
                lg.follow_district(actor=g.user, ip=client_ip())
                return done("本镇已恢复沿用区里的考核标准。", "admin.league_standards")
            new = {key: _standard_from_form(key) for key in lg.DEFAULTS}
            lg.set_standards(new, actor=g.user, ip=client_ip())
        except ValidationFailed as error:
            return refused(error, "admin.league_standards")
        return done("考核标准已保存。", "admin.league_standards")
    return render_template(
        "admin/league_standards.html",
        standards=lg.standards(town_id),
        district=lg.standards(None) if town_id is not None else None,
        own=lg.keeps_own(town_id),
        own_towns=lg.towns_of_their_own() if town_id is None else [],
        defaults=lg.DEFAULTS,
        measures=lg.MEASURES,
    )


@bp.get("/brief")
@require(*READERS)
def brief_page():
    """The joint meeting's brief (联席会研判) of a month, printable, each item linked."""
    period = _month()
    found = briefing.compute(
        period, required=int(current_app.config["SCREENINGS_PER_MONTH"]), viewer=g.user
    )
    value = f"{period.start.year}-{period.start.month:02d}"
    return render_template(
        "admin/brief.html",
        brief=found,
        period=period,
        value=value,
        display=codes.display,
        link=lambda item, **more: url_for("admin.brief_cases", value=value, item=item, **more),
    )


@bp.get("/brief/cases")
@require(*READERS)
def brief_cases():
    """Exactly the cases one item of the brief counts (those the user may see)."""
    period = _month()
    item = request.args.get("item", "")
    category = request.args.get("category") or None
    rows, after = briefing.case_page(
        g.user, period, item, category=category, after=id_value(request.args.get("after"), "after")
    )
    return render_template(
        "admin/brief_cases.html",
        rows=rows,
        after=after,
        period=period,
        title=briefing.TITLES[item],
        category=category,
        display=codes.display,
        args=request.args,
    )
