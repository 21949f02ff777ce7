"""Cases as the API shows them to one viewer: the fields the access policy allows."""

from __future__ import annotations

from server.cases import access, operations, repeats, workflow
from server.cases.workflow import OPEN
from server.infra import clock
from server.models import Case, CaseStatus, Role, User


def _ref(obj):
    return {"id": obj.id, "name": obj.name} if obj is not None else None


def summary(case: Case, viewer: User) -> dict:
    """The list view of a case."""
    now = clock.now()
    return {
        "code": case.code,
        "status": case.status.value,
        "status_label": case.status.label,
        "category": {
            "code": case.category.code,
            "name": case.category.name,
            "group": case.category.group.value,
            "group_label": case.category.group.label,
        },
        "village": _ref(case.village),
        "town": _ref(case.town),
        "source": case.source.value,
        "risk_level": case.risk_level.value,
        "severity": case.severity.value,
        "urgent": case.urgent,
        "happening_now": case.happening_now,
        "supervised": case.supervised,
        "escalated": case.escalated,
        "held_by_district": case.held_by_district,
        "step": case.step.value if case.step else None,
        "due_at": case.due_at,
        "overdue": bool(case.due_at and case.status in OPEN and case.due_at < now),
        "created_at": case.created_at,
        "summary": case.description[:80],
        "place_text": case.place_text,
        "reporter_consent": case.reporter_consent,
    }


def detail(case: Case, viewer: User, *, ip: str | None = None) -> dict:
    """Everything `viewer` may see of `case`, with the actions they may take now."""
    exact = access.can_see_exact_location(viewer, case)
    body = summary(case, viewer) | {
        "version": case.version,
        "description": case.description,
        "people_involved": case.people_involved,
        "group_dispute": case.group_dispute,
        "criminal_risk": case.criminal_risk,
        "occurred_at": case.occurred_at,
        "latitude": case.latitude if exact else None,
        "longitude": case.longitude if exact else None,
        "grid": _ref(case.grid),
        "parties": [
            {"name": p.name, "side": p.side.value, "kind": p.kind.value} for p in case.parties
        ],
        "lead_department": _ref(case.lead_department),
        "assignments": [
            {
                "department": _ref(a.department),
                "role": a.role.value,
                "due_at": a.due_at,
                "signed_at": a.signed_at,
                "feedback": a.feedback,
            }
            for a in case.active_assignments
        ],
        "extension_requested_until": case.extension_requested_until,
        "return_requested_at": case.return_requested_at,
        "complaint_at": case.complaint_at,
        "result_code": case.result_code.value if case.result_code else None,
        "result_text": case.result_text,
        "rejection_reason": case.rejection_reason,
        "closing_reason": case.closing_reason.value if case.closing_reason else None,
        "photos": list(case.photos),
        "repeat_dispute": case.repeat_dispute,
        "repeats": [
            {
                "code": r.case.code,
                "status": r.case.status.value,
                "status_label": r.case.status.label,
                "created_at": r.case.created_at,
                "shared_parties": r.shared,
            }
            for r in repeats.repeats_of(case)
            if access.can_view_case(viewer, r.case)
        ],
        "merged_reports": [
            {"code": m.code, "created_at": m.created_at}
            for m in case.merged_reports
            if access.can_view_case(viewer, m)
        ],
        "instructions": [
            {
                "id": i.id,
                "text": i.text,
                "author": i.author.display_name,
                "at": i.created_at,
                "carried_out_at": i.carried_out_at,
                "carried_out_by": i.carried_out_by.display_name if i.carried_out_by else None,
                "carried_out_note": i.carried_out_note,
            }
            for i in case.instructions
        ],
        "timeline": [
            {
                "action": e.action,
                "label": workflow.ACTIONS[e.action].label
                if e.action in workflow.ACTIONS
                else "上报",
                "from_status": e.from_status.value if e.from_status else None,
                "to_status": e.to_status.value,
                "at": e.at,
                "actor": e.actor.display_name if e.actor else None,
                "note": e.note,
                "internal": e.internal,
            }
            for e in operations.timeline(case, viewer=viewer)
        ],
        "actions": [
            {
                "action": t.action,
                "label": t.label,
                "required": list(t.required),
                "optional": list(t.optional),
                "fields": workflow.field_forms(t),
                "choices": {
                    name: [{"value": v, "label": label} for v, label in values.items()]
                    for name, values in workflow.field_choices(case, t).items()
                },
            }
            for t in workflow.allowed_actions(case, viewer)
        ],
    }
    if case.status == CaseStatus.ACCEPTED and viewer.role == Role.CENTER:
        suggestion = operations.suggest_dispatch(case)
        body["suggested_dispatch"] = {
            "lead": _ref(suggestion.lead),
            "co": [_ref(d) for d in suggestion.co],
            "skipped": [{"department": _ref(d), "reason": why} for d, why in suggestion.skipped],
        }
    if access.can_see_informant(viewer, case):
        identity = access.reveal_informant(case, actor=viewer, ip=ip)
        body["reporter"] = {"anonymous": case.reporter_anonymous, **(identity or {})}
    return body
