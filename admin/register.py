"""来访 / 来电登记: the center registers what a villager says at its desk or on the hotline.

The report goes through the core path every report takes (the same input schema, the
same checks, the informant sealed as usual), with a tracking code on a printable receipt,
as a villager who scanned a QR code gets one. The form's key makes a double click one
report and shows the same receipt.
"""

from __future__ import annotations

import uuid

from flask import g, render_template, request, url_for
from sqlalchemy import select

from admin.blueprint import bp, require
from server.cases import access, inputs, operations, tracking
from server.db import db, unit
from server.infra import clock
from server.infra.errors import DomainError
from server.models import Category, Role, Source, Town, Village
from server.organisation import qr

SOURCES = (Source.WALK_IN, Source.HOTLINE)
PARTY_ROWS = (("applicant", "申请人"), ("respondent", "被申请人"))


def _choices() -> dict:
    return {
        "villages": db.session.scalars(
            select(Village)
            .where(Village.active.is_(True), access.in_users_town(g.user, Village.town_id))
            .order_by(Village.code)
        ).all(),
        "categories": db.session.scalars(
            select(Category).where(Category.active.is_(True)).order_by(Category.sort_order)
        ).all(),
        "sources": SOURCES,
        "party_rows": PARTY_ROWS,
    }


@bp.get("/register")
@require(Role.CENTER)
def register():
    """The form: who came or called, about what, and where."""
    source = request.args.get("source", Source.WALK_IN.value)
    return render_template(
        "admin/register.html",
        form={"source": source, "anonymous": "no"},
        form_key=str(uuid.uuid4()),
        **_choices(),
    )


def _typed() -> dict:
    form = request.form
    return {k: form.get(k, "") for k in form}


@bp.post("/register")
@require(Role.CENTER)
def register_submit():
    """File it; answer with the receipt (the same one for a resend of the form)."""
    typed = _typed()
    try:
        case, secret, resent = _file(typed)
    except DomainError as error:
        unit.abandon()
        return render_template(
            "admin/register.html",
            form=typed,
            form_key=typed.get("form_key") or str(uuid.uuid4()),
            error=error.message,
            **_choices(),
        ), error.http_status
    link = url_for("villager.track", secret=secret, _external=False)
    public = qr.public_base_url()
    return render_template(
        "admin/receipt.html",
        case=case,
        secret=tracking.display(secret),
        link=public + link,
        lookup=public + url_for("villager.track_lookup"),
        qr_svg=qr.svg_for(public + link),
        resent=resent,
        town=db.session.scalar(select(Town).order_by(Town.id)),
        received=clock.local(case.created_at),
    )


def _file(typed: dict):
    try:
        key = str(uuid.UUID(typed.get("form_key", "")))
    except ValueError:
        raise DomainError(
            "表单已过期，请重新填写。", code="form_expired", http_status=422
        ) from None
    anonymous = typed.get("anonymous") == "yes"
    parties = [
        {"name": name, "side": side, "phone": typed.get(f"party_{side}_phone") or None}
        for side, _label in PARTY_ROWS
        if (name := typed.get(f"party_{side}_name", "").strip())
    ]
    data = inputs.from_form(
        inputs.REPORT,
        request.form,
        (
            "category",
            "village",
            "description",
            "place_text",
            "people_involved",
            "happening_now",
            "group_dispute",
            "source",
        ),
        tz=clock.town_tz(),
    )
    data["reporter"] = {
        "anonymous": anonymous,
        "name": None if anonymous else typed.get("name") or None,
        "phone": None if anonymous else typed.get("phone") or None,
    }
    data["parties"] = parties
    if data.get("source") not in {s.value for s in SOURCES}:
        data["source"] = Source.WALK_IN.value
    draft = inputs.load(inputs.REPORT, data)
    return operations.submit_villager_report(draft, idempotency_key=key, actor=g.user)
