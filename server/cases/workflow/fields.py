"""The fields an action takes: their Chinese labels and kinds, their choices, and how each
is checked, so that every surface shows, offers and refuses the same way."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from server.cases import limits
from server.cases.workflow.transition import Transition
from server.db import db
from server.infra import clock, codes
from server.infra.errors import ValidationFailed
from server.models import (
    Case,
    Category,
    ClosingReason,
    Department,
    ResultCode,
    RiskLevel,
    Severity,
    User,
)


def clean_text(value, name, max_length=limits.TEXT) -> str:
    """A required free text, stripped, of at most `max_length` characters."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(
            f"请填写{FIELD_LABELS.get(name, name)}。", code="missing_field", field=name
        )
    value = value.strip()
    if len(value) > max_length:
        raise ValidationFailed(
            f"{FIELD_LABELS.get(name, name)}过长（最多{max_length}字）。",
            code="too_long",
            field=name,
        )
    return value


def clean_choice(enum_cls, value, name):
    """The member of `enum_cls` named by `value` (ValidationFailed if none)."""
    try:
        return enum_cls(value)
    except ValueError:
        raise ValidationFailed(
            f"{FIELD_LABELS.get(name, name)}的取值无效：{value!r}。",
            code="invalid_choice",
            field=name,
        ) from None


def clean_row(model, value, name):
    """The `model` row given as itself or by id (ValidationFailed if none)."""
    row = value if isinstance(value, model) else None
    if row is None and isinstance(value, int) and not isinstance(value, bool):
        row = db.session.get(model, value)
    if row is None:
        raise ValidationFailed(
            f"{FIELD_LABELS.get(name, name)}不存在：{value!r}。",
            code="unknown_reference",
            field=name,
        )
    return row


def clean_moment(value, name) -> datetime:
    """A timezone-aware moment, given as one or in ISO 8601."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            value = None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationFailed(
            f"{FIELD_LABELS.get(name, name)}须为带时区的时间。",
            code="invalid_datetime",
            field=name,
        )
    clock.check_year(value, name)
    return value


# Free text: a non-empty string of at most limits.TEXT characters, whatever action carries it.
TEXT_FIELDS = frozenset({"reason", "note", "text", "result_text"})

FIELD_LABELS = {
    "reason": "原因",
    "into": "合并目标案件",
    "lead_department": "主办部门",
    "co_departments": "协办部门",
    "handler": "处置人员",
    "due_at": "办理期限",
    "until": "延期至",
    "result_code": "办结结果",
    "result_text": "办结情况",
    "closing_reason": "结案原因",
    "text": "内容",
    "category": "类别",
    "risk_level": "风险等级",
    "severity": "严重程度",
    "satisfaction": "满意度",
    "parties_consent": "当事人同意",
    "criminal_risk": "民转刑风险",
    "outcome": "回访结果",
    "note": "备注",
    "instruction": "批示",
    "terms": "协议条款履行情况",
}

# What each field takes, so that a client can draw it without knowing the table: free
# text, one of `field_choices`, yes/no, a moment, a department (or several), a case code.
FIELD_KINDS = {
    "reason": "text",
    "text": "text",
    "note": "text",
    "result_text": "text",
    "result_code": "choice",
    "closing_reason": "choice",
    "risk_level": "choice",
    "severity": "choice",
    "satisfaction": "choice",
    "outcome": "choice",
    "parties_consent": "boolean",
    "criminal_risk": "boolean",
    "until": "datetime",
    "due_at": "datetime",
    "lead_department": "department",
    "co_departments": "departments",
    "handler": "user",
    "category": "category",
    "into": "case",
    "instruction": "instruction",
    # term id -> kept (true/false), for each term of the case's mediation agreement
    "terms": "terms",
}


def field_forms(transition: Transition) -> dict[str, dict[str, str]]:
    """Each field of `transition` with its Chinese label and its kind (see FIELD_KINDS)."""
    return {
        name: {"label": FIELD_LABELS.get(name, name), "kind": FIELD_KINDS.get(name, "text")}
        for name in (*transition.required, *transition.optional)
    }


def as_json(value):
    """A field value as the event stores it."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, db.Model):
        return getattr(value, "code", None) or value.id
    if isinstance(value, list | tuple):
        return [as_json(v) for v in value]
    return value


def clean(transition: Transition, fields: dict) -> dict:
    """The action's fields checked against its row of the table: none unknown, none
    required missing, every free text bounded."""
    unknown = set(fields) - set(transition.required) - set(transition.optional)
    if unknown:
        names = ", ".join(sorted(unknown))
        raise ValidationFailed(
            f"“{transition.label}”不接受这些字段：{names}。",
            code="unknown_field",
            fields=sorted(unknown),
        )
    for name in transition.required:
        value = fields.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ValidationFailed(
                f"请填写{FIELD_LABELS.get(name, name)}。", code="missing_field", field=name
            )
    cleaned = {k: v for k, v in fields.items() if v is not None}
    for name in TEXT_FIELDS & set(cleaned):
        cleaned[name] = clean_text(cleaned[name], name)
    return cleaned


SATISFACTION = {"satisfied": "满意", "basically_satisfied": "基本满意", "dissatisfied": "不满意"}

# What a follow-up visit (回访) found; the "back" ones reopen the case. A hazard has no
# agreement to keep: its visit finds the problem gone or back.
VISIT_OUTCOMES = {
    "gone": "问题已消除",
    "back_again": "问题再次出现",
    "kept": "协议已履行",
    "broken": "协议未履行",
}

REOPENING_OUTCOMES = frozenset({"back_again", "broken"})

HAZARD_OUTCOMES = ("gone", "back_again")


def visit_outcomes(case: Case) -> dict[str, str]:
    """The outcomes a follow-up visit of `case` may record: value -> label."""
    if case.category.is_dispute:
        return VISIT_OUTCOMES
    return {k: VISIT_OUTCOMES[k] for k in HAZARD_OUTCOMES}


# The values of each choice field (value -> Chinese label, or an enum of labelled values);
# a visit's outcome depends on the case (`visit_outcomes`).
FIELD_CHOICES = {
    "result_code": ResultCode,
    "closing_reason": ClosingReason,
    "risk_level": RiskLevel,
    "severity": Severity,
    "satisfaction": SATISFACTION,
    "outcome": VISIT_OUTCOMES,
}


def _labels(choices) -> dict[str, str]:
    if isinstance(choices, dict):
        return dict(choices)
    return {m.value: m.label for m in choices}


def field_choices(case: Case, transition: Transition) -> dict[str, dict[str, str]]:
    """The values each choice field of `transition` takes on `case`: value -> Chinese
    label, so that every surface offers the same choices in the same words."""
    choices = {}
    for name in (*transition.required, *transition.optional):
        if name == "outcome":
            choices[name] = dict(visit_outcomes(case))
        elif name in FIELD_CHOICES:
            choices[name] = _labels(FIELD_CHOICES[name])
    return choices


def event_facts(data: dict | None) -> list[tuple[str, str]]:
    """What an event decided, from its stored fields (`CaseEvent.data`), as (label, value)
    in Chinese: the department it went to, the result, the reason for closing, the new
    due time, the reporter's answer... The case file and the desk's timeline print these
    beside the note, so that a reopened case's first round stays on the record."""
    data = data or {}
    facts = []

    def named(model, value, attribute):
        """A row's name: stored as it (as_json), or by id in older events."""
        if isinstance(value, str):
            return value
        row = db.session.get(model, value) if isinstance(value, int) else None
        return getattr(row, attribute) if row is not None else None

    for name, value in data.items():
        if value is None or value == [] or name not in FIELD_LABELS or name == "terms":
            continue
        if name in FIELD_CHOICES and name != "outcome":
            shown = _labels(FIELD_CHOICES[name]).get(value)
        elif name == "outcome":
            shown = VISIT_OUTCOMES.get(value)
        elif name == "lead_department":
            shown = named(Department, value, "name")
        elif name == "co_departments":
            shown = "、".join(filter(None, (named(Department, d, "name") for d in value)))
        elif name == "handler":
            shown = named(User, value, "display_name")
        elif name in ("until", "due_at"):
            try:
                shown = f"{clock.local(datetime.fromisoformat(value)):%Y年%m月%d日 %H:%M}"
            except (TypeError, ValueError):
                shown = None
        elif name == "category":
            row = db.session.scalar(select(Category).where(Category.code == str(value)))
            shown = row.name if row is not None else None
        elif name == "into":
            shown = codes.display(str(value))
        elif name in ("parties_consent", "criminal_risk"):
            shown = "是" if value else "否"
        elif isinstance(value, str):
            shown = value
        else:
            shown = None
        if shown:
            facts.append((FIELD_LABELS[name], shown))
    return facts
