"""A case: everything about it, its timeline, the actions allowed now, its printable file."""

from __future__ import annotations

from datetime import datetime

from flask import Response, abort, g, render_template, request
from sqlalchemy import select

from admin.blueprint import bp, client_ip, done, id_value, refused, require
from server.cases import access, lookup, media, operations, repeats, workflow
from server.cases import queue as triage
from server.cases.duplicates import likely_duplicates
from server.db import db
from server.infra import clock, codes
from server.infra.errors import StaleCase, ValidationFailed
from server.infra.storage import storage
from server.models import (
    AssignmentRole,
    Category,
    ClosingReason,
    Department,
    ResultCode,
    RiskLevel,
    Role,
    Severity,
    User,
)
from server.organisation import routing

CASE_ROLES = (Role.CENTER, Role.LEADER, Role.HANDLER)
LIST_FIELDS = {"co_departments"}
INT_FIELDS = {"lead_department", "handler"}
TIME_FIELDS = {"due_at", "until"}
BOOL_FIELDS = {"parties_consent", "criminal_risk"}
# Actions the center can take at almost any time: offered, but not opened first.
SIDE_ACTIONS = frozenset(
    {"reassign", "change_co_handlers", "recall", "assess_risk", "supervise", "escalate", "note"}
)


def _case(code: str):
    return lookup.get_case_for(code, g.user)


def _context(case):
    """What the case page and the printable file show."""
    informant = None
    if access.can_see_informant(g.user, case):
        informant = access.reveal_informant(case, actor=g.user, ip=client_ip())
    suggestion = operations.suggest_dispatch(case) if case.status == "accepted" else None
    actions = workflow.allowed_actions(case, g.user)
    departments = db.session.scalars(
        select(Department)
        .where(Department.active.is_(True))
        .order_by(Department.kind, Department.name)
    ).all()
    return {
        "reviews": triage.reviews_of(case),
        "case": case,
        "display": codes.display,
        "consents": operations.CONSENTS,
        "merged_reports": [m for m in case.merged_reports if access.can_view_case(g.user, m)],
        "repeats": [r for r in repeats.repeats_of(case) if access.can_view_case(g.user, r.case)],
        "informant": informant,
        "show_informant": access.can_see_informant(g.user, case),
        "exact_location": access.can_see_exact_location(g.user, case),
        "timeline": operations.timeline(case, viewer=g.user),
        "labels": {a: t.label for a, t in workflow.ACTIONS.items()}
        | {"submit": "上报", **{a: label for a, (_s, label) in workflow.REPORTER_ACTIONS.items()}},
        "actions": actions,
        # The form shown open: the case's next step, not one of the moves always at hand.
        "primary": next(
            (t.action for t in actions if t.action not in SIDE_ACTIONS),
            actions[0].action if actions else None,
        ),
        "choices": {t.action: workflow.field_choices(case, t) for t in actions},
        "suggestion": suggestion,
        "duplicates": likely_duplicates(case, viewer=g.user) if case.status == "submitted" else [],
        "departments": departments,
        "staffed": routing.staffed_ids(departments),
        "current_co": {
            a.department_id for a in case.active_assignments if a.role == AssignmentRole.CO
        },
        "handlers": db.session.scalars(
            select(User).where(User.role == Role.HANDLER, User.active.is_(True))
        ).all(),
        "categories": db.session.scalars(
            select(Category).where(Category.active.is_(True)).order_by(Category.sort_order)
        ).all(),
        "result_codes": list(ResultCode),
        "closing_reasons": list(ClosingReason),
        "risk_levels": list(RiskLevel),
        "severities": list(Severity),
        "local": clock.local,
    }


@bp.get("/cases/<code>")
@require(*CASE_ROLES)
def case_page(code: str):
    """One case: details, photos, parties, timeline, and forms for the allowed actions."""
    case = _case(code)
    context = _context(case)
    access.record_view(case, viewer=g.user, ip=client_ip(), surface="admin")  # audited
    return render_template("admin/case.html", **context)


@bp.get("/cases/<code>/print")
@require(*CASE_ROLES)
def case_file(code: str):
    """The printable case file (案卷) with the whole timeline."""
    case = _case(code)
    context = _context(case)
    access.record_view(case, viewer=g.user, ip=client_ip(), surface="admin_print")
    return render_template("admin/case_file.html", **context, printed_at=clock.now())


def _fields(action: str) -> dict:
    """The action's fields from the form, typed as the workflow takes them."""
    transition = workflow.ACTIONS.get(action)
    if transition is None:
        abort(404)
    fields = {}
    tz = clock.town_tz()
    for name in (*transition.required, *transition.optional):
        if name in LIST_FIELDS:
            values = [i for i in (id_value(v, name) for v in request.form.getlist(name)) if i]
            if values:
                fields[name] = values
            continue
        raw = request.form.get(name, "").strip()
        if name in BOOL_FIELDS:
            fields[name] = raw == "yes"
        elif not raw:
            continue
        elif name in INT_FIELDS:
            fields[name] = id_value(raw, name)
        elif name in TIME_FIELDS:
            try:  # <input type=datetime-local> gives the town's wall-clock time
                fields[name] = datetime.fromisoformat(raw).replace(tzinfo=tz)
            except ValueError:
                raise ValidationFailed(
                    "时间格式不正确。", code="invalid_datetime", field=name
                ) from None
        else:
            fields[name] = raw
    return fields


STALE = StaleCase("这个案件刚被其他人更新过，您的操作没有执行。下面是最新情况，请确认后再操作。")


@bp.post("/cases/<code>/actions/<action>")
@require(Role.CENTER, Role.HANDLER)
def act(code: str, action: str):
    """Take one action through the workflow; a stale form is told and shown the news."""
    case = _case(code)
    version = request.form.get("version", "")
    try:
        event = workflow.apply(
            case,
            action,
            actor=g.user,
            expected_version=int(version) if version.isdigit() else -1,
            **_fields(action),
        )
        uploads = [f for f in request.files.getlist("photos") if f and f.filename][:9]
        media.attach(
            [media.store_photo(f.read(), uploader=g.user) for f in uploads], case=case, event=event
        )
    except StaleCase:
        return refused(STALE, "admin.case_page", category="warning", code=case.code)
    except ValidationFailed as error:
        return refused(error, "admin.case_page", code=case.code)
    return done(f"已{workflow.ACTIONS[action].label}。", "admin.case_page", code=case.code)


@bp.get("/media/<public_id>")
@require(*CASE_ROLES)
def photo(public_id: str):
    """A case photo (or its thumbnail) for users who may see the case."""
    item = media.photo_for(public_id, g.user)
    key = item.thumbnail_key if request.args.get("size") == "thumb" else item.storage_key
    return Response(
        storage().get(key),
        mimetype=item.content_type,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"},
    )
