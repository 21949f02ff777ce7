"""A case: everything about it, its timeline, the actions allowed now, its printable file."""

from __future__ import annotations

import uuid

from flask import Response, abort, g, render_template, request
from sqlalchemy import select

from admin.blueprint import bp, client_ip, done, refused, require
from admin.casefile import papers_context
from server.cases import access, inputs, lateness, lookup, media, operations, repeats, workflow
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
    ResultCode,
    RiskLevel,
    Role,
    Severity,
    User,
)
from server.organisation import reference, routing

CASE_ROLES = (Role.CENTER, Role.LEADER, Role.HANDLER)
# What an action done says where "已<label>" does not read well.
DONE = {"instruct": "批示已送达调处中心和主办部门。", "carry_out": "已标记该批示落实。"}
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
    departments = routing.departments_for(case)
    return {
        "reviews": triage.reviews_of(case),
        "case": case,
        # The running step's time, counted as the queue and the supervision list count it.
        "left": lateness.time_left(case, calendar=reference.calendar()),
        "display": codes.display,
        "consents": operations.CONSENTS,
        "merged_reports": [m for m in case.merged_reports if access.can_view_case(g.user, m)],
        "facts": workflow.event_facts,
        "repeats": [r for r in repeats.repeats_of(case) if access.can_view_case(g.user, r.case)],
        "informant": informant,
        "show_informant": access.can_see_informant(g.user, case),
        "exact_location": access.can_see_exact_location(g.user, case),
        "timeline": operations.timeline(case, viewer=g.user),
        "labels": {a: t.label for a, t in workflow.ACTIONS.items()}
        | {"submit": "上报", **{a: label for a, (_s, label) in workflow.REPORTER_ACTIONS.items()}}
        | workflow.SYSTEM_ACTIONS
        | workflow.PAPERWORK_ACTIONS,
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
            select(User).where(
                User.role == Role.HANDLER,
                User.active.is_(True),
                User.department_id.in_([d.id for d in departments]),
            )
        ).all(),
        "categories": db.session.scalars(
            select(Category).where(Category.active.is_(True)).order_by(Category.sort_order)
        ).all(),
        "result_codes": list(ResultCode),
        "closing_reasons": list(ClosingReason),
        "risk_levels": list(RiskLevel),
        "severities": list(Severity),
        "local": clock.local,
        **papers_context(case),
    }


@bp.get("/cases/<code>")
@require(*CASE_ROLES)
def case_page(code: str):
    """One case: details, photos, parties, timeline, and forms for the allowed actions."""
    case = _case(code)
    context = _context(case)
    access.record_view(case, viewer=g.user, ip=client_ip(), surface="admin")  # audited
    # The page's action forms carry it: each form's event is keyed by it and its action.
    return render_template("admin/case.html", **context, form_key=uuid.uuid4())


@bp.get("/cases/<code>/print")
@require(*CASE_ROLES)
def case_file(code: str):
    """The printable case file (案卷) with the whole timeline."""
    case = _case(code)
    context = _context(case)
    access.record_view(case, viewer=g.user, ip=client_ip(), surface="admin_print")
    return render_template("admin/case_file.html", **context, printed_at=clock.now())


def _fields(action: str) -> tuple[int, dict]:
    """The version seen and the action's fields from the form, checked by the same
    schema the API loads them with (server/cases/inputs.py)."""
    transition = workflow.ACTIONS.get(action)
    if transition is None:
        abort(404)
    names = ("version", *transition.required, *transition.optional)
    sent = inputs.from_form(inputs.ACTION, request.form, names, tz=clock.town_tz())
    if action == "record_visit":  # each agreement term: kept (yes) or not (no)
        sent["terms"] = {
            name.removeprefix("term_"): value == "yes"
            for name, value in request.form.items()
            if name.startswith("term_") and value in ("yes", "no")
        } or None
        if sent["terms"] is None:
            del sent["terms"]
    fields = inputs.load(inputs.ACTION, {"action": action, **sent})
    del fields["action"]
    return fields.pop("version"), fields


def _event_key(action: str) -> str | None:
    """The event's idempotency key for this page's `action` form: the same when the
    browser resends the form (a lost answer, 重新提交), another on a page drawn anew. A
    form from before keys were drawn has none."""
    try:
        return str(uuid.uuid5(uuid.UUID(request.form.get("form_key", "")), action))
    except ValueError:
        return None


STALE = StaleCase("这个案件刚被其他人更新过，您的操作没有执行。下面是最新情况，请确认后再操作。")


@bp.post("/cases/<code>/actions/<action>")
@require(Role.CENTER, Role.HANDLER, Role.LEADER)  # a leader's one action: 批示
def act(code: str, action: str):
    """Take one action through the workflow; a stale form is told and shown the news."""
    case = _case(code)
    key = _event_key(action)
    if workflow.applied_with_key(case, key, g.user) is not None:
        # Sent again after it was done: not 'someone else changed it, not done'.
        return done(_said(action), "admin.case_page", code=case.code)
    try:
        version, fields = _fields(action)
        uploads = [f for f in request.files.getlist("photos") if f and f.filename][:9]
        workflow.check_photos(action, uploads)
        images = media.processed_images([f.read() for f in uploads])  # before any write
        event = workflow.apply(
            case, action, actor=g.user, expected_version=version, idempotency_key=key, **fields
        )
        media.attach(media.store_images(images, uploader=g.user), case=case, event=event)
    except StaleCase:
        return refused(STALE, "admin.case_page", category="warning", code=case.code)
    except ValidationFailed as error:
        return refused(error, "admin.case_page", code=case.code)
    return done(_said(action), "admin.case_page", code=case.code)


def _said(action: str) -> str:
    return DONE.get(action) or f"已{workflow.ACTIONS[action].label}。"


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
