"""Town setup: villages and their QR codes, grids, and a whole town from one Excel file.

Villages and grids are the system admin's; accounts the security admin's (三员分立), so
each imports the sheets of their own duty. The rules are in server/organisation/.
"""

from __future__ import annotations

from flask import Response, g, render_template, request
from sqlalchemy import select

from admin.blueprint import attachment, bp, client_ip, done, id_value, refused, require
from server.cases import access
from server.db import db, unit
from server.infra.errors import DomainError, NotFound
from server.models import Grid, Role, Town, Village
from server.organisation import places, qr, town_file
from server.trust import audit, towns

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.get("/villages")
@require(Role.ADMIN, Role.CENTER)
def villages():
    """Villages, their grids, QR codes and posters."""
    rows = db.session.scalars(
        select(Village)
        .where(access.in_users_town(g.user, Village.town_id))
        .order_by(Village.active.desc(), Village.code)
    ).all()
    return render_template(
        "admin/villages.html",
        villages=rows,
        url_of=qr.village_url,
        # The district's admin places a new village in a town.
        towns=db.session.scalars(select(Town).order_by(Town.id)).all()
        if g.user.town_id is None
        else [],
    )


@bp.get("/villages/posters")
@require(Role.ADMIN, Role.CENTER)
def posters():
    """One print sheet: every active village's A4 poster."""
    rows = db.session.scalars(
        select(Village)
        .where(Village.active.is_(True), access.in_users_town(g.user, Village.town_id))
        .order_by(Village.code)
    ).all()
    return render_template(
        "villager/poster.html",
        villages=rows,
        # The sheet's title: the admin's own town (each poster names its village's town).
        town=db.session.get(Town, g.user.town_id) if g.user.town_id else None,
        qr_svg=qr.svg,
        url_of=qr.village_url,
        inline_css=False,
    )


@bp.post("/villages/<code>/rotate")
@require(Role.ADMIN)
def rotate_qr(code: str):
    """Replace a village's QR code (the old one will say it has been replaced)."""
    village = db.session.scalar(select(Village).where(Village.code == code))
    if village is None or not towns.reaches(g.user, village.town_id):
        raise NotFound("找不到该村。")
    qr.rotate(village, actor=g.user, ip=client_ip())
    return done(f"{village.name}的二维码已更换，请打印新海报。", "admin.villages")


@bp.post("/villages")
@bp.post("/villages/<int:village_id>")
@require(Role.ADMIN)
def village_save(village_id: int | None = None):
    """Create a village, or change its code, name or whether it is in use."""
    village = _existing(Village, village_id, "找不到该村。")
    try:
        saved = places.save_village(
            actor=g.user,
            village=village,
            code=request.form.get("code", ""),
            name=request.form.get("name", ""),
            active=request.form.get("active") == "yes",
            ip=client_ip(),
            town_id=id_value(request.form.get("town"), "town"),  # the district's choice
        )
    except DomainError as error:
        return refused(error, "admin.villages")
    return done(f"{saved.name}已保存。", "admin.villages")


@bp.post("/grids")
@bp.post("/grids/<int:grid_id>")
@require(Role.ADMIN)
def grid_save(grid_id: int | None = None):
    """Create a grid of a village, or change it."""
    grid = _existing(Grid, grid_id, "找不到该网格。")
    try:
        saved = places.save_grid(
            actor=g.user,
            grid=grid,
            code=request.form.get("code", ""),
            name=request.form.get("name", ""),
            village_id=id_value(request.form.get("village"), "village"),
            active=request.form.get("active") == "yes",
            ip=client_ip(),
        )
    except DomainError as error:
        return refused(error, "admin.villages")
    return done(f"网格 {saved.name} 已保存。", "admin.villages")


def _existing(model, row_id: int | None, missing: str):
    """The row a form changes (None: the form makes a new one)."""
    if row_id is None:
        return None
    row = db.session.get(model, row_id)
    if row is None:
        raise NotFound(missing)
    return row


@bp.get("/setup")
@require(Role.ADMIN, Role.SECURITY_ADMIN)
def setup():
    """The town from one Excel file: the template, and the import."""
    return render_template("admin/setup.html", sheets=_sheets_of(g.user.role))


@bp.get("/setup/template.xlsx")
@require(Role.ADMIN, Role.SECURITY_ADMIN)
def setup_template():
    """The empty template: a sheet per kind, Chinese headers, an example row."""
    return Response(
        town_file.template(),
        mimetype=XLSX,
        headers=attachment("镇村设置模板.xlsx", "town-setup-template.xlsx"),
    )


@bp.post("/setup")
@require(Role.ADMIN, Role.SECURITY_ADMIN)
def setup_import():
    """Check the uploaded file, then write all of it, or nothing and every fault."""
    upload = request.files.get("file")
    data = upload.read() if upload else b""
    sheets = _sheets_of(g.user.role)
    try:
        outcome = town_file.import_town(data, actor=g.user, ip=client_ip())
    except town_file.ImportRefused as error:
        unit.abandon()
        audit.record("town.import_refused", actor=g.user, ip=client_ip(), faults=len(error.faults))
        return render_template("admin/setup.html", sheets=sheets, faults=error.faults), 422
    audit.record(
        "town.import",
        actor=g.user,
        ip=client_ip(),
        created=outcome.created,
        changed=outcome.changed,
    )
    # The one-time passwords are on this answer only (never flashed into the session).
    return render_template("admin/setup.html", sheets=sheets, outcome=outcome)


def _sheets_of(role: Role) -> tuple[str, ...]:
    return town_file.PLACES if role == Role.ADMIN else town_file.ACCOUNTS
