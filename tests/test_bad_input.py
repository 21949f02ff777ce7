"""Bad input to the core: a clear domain error, and never a half-written case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from server.cases import workflow
from server.cases.operations import Party, ReportDraft, Reporter, submit_report
from server.db import db
from server.infra import clock
from server.infra.errors import DomainError, Forbidden, InvalidTransition, ValidationFailed
from server.models import Case, CaseEvent, CaseParty
from server.trust import identity
from tests.factories import category
from tests.helpers import case_in, new_report


def _counts():
    return tuple(
        db.session.scalar(select(func.count()).select_from(model))
        for model in (Case, CaseEvent, CaseParty)
    )


@pytest.mark.parametrize(
    ("changes", "error", "code"),
    [
        ({"category": "X99"}, ValidationFailed, "unknown_category"),
        ({"description": "   "}, ValidationFailed, "missing_field"),
        ({"description": "很" * 2001}, ValidationFailed, "too_long"),
        ({"source": "fax"}, ValidationFailed, "invalid_choice"),
        ({"source": "qr"}, Forbidden, "forbidden"),  # an account is not a villager
        ({"latitude": 39.1}, ValidationFailed, "coordinates_unpaired"),
        ({"latitude": 95.0, "longitude": 117.0}, ValidationFailed, "coordinates_out_of_range"),
        ({"people_involved": 0}, ValidationFailed, "invalid_number"),
        ({"risk_level": "purple"}, ValidationFailed, "invalid_choice"),
        ({"occurred_at": datetime(2026, 1, 1)}, ValidationFailed, "invalid_datetime"),  # noqa: DTZ001
        (
            {"occurred_at": datetime.now(UTC) + timedelta(days=2)},
            ValidationFailed,
            "occurred_in_future",
        ),
        (
            {"reporter": Reporter(anonymous=True, name="王五")},
            ValidationFailed,
            "anonymous_with_identity",
        ),
        ({"reporter": Reporter(anonymous=False)}, ValidationFailed, "missing_identity"),
        ({"parties": [Party("张三"), Party("")]}, ValidationFailed, "invalid_field"),
        ({"parties": [Party("张三", side="witness")]}, ValidationFailed, "invalid_choice"),
        # A name typed into the phone box; letters; too few digits; far too many.
        (
            {"reporter": Reporter(anonymous=False, phone="钱秘密")},
            ValidationFailed,
            "invalid_phone",
        ),
        (
            {"reporter": Reporter(anonymous=False, phone="138abc00138")},
            ValidationFailed,
            "invalid_phone",
        ),
        ({"reporter": Reporter(anonymous=False, phone="1-2")}, ValidationFailed, "invalid_phone"),
        (
            {"reporter": Reporter(anonymous=False, phone="1" * 21)},
            ValidationFailed,
            "invalid_phone",
        ),
        ({"reporter": Reporter(anonymous=False, phone="1" * 33)}, ValidationFailed, "too_long"),
        ({"parties": [Party("张三", phone="问村委会")]}, ValidationFailed, "invalid_phone"),
    ],
)
def test_a_bad_report_is_refused_whole(world, changes, error, code):
    before = _counts()
    with pytest.raises(error) as refused:
        new_report(
            world,
            **{k: v for k, v in changes.items() if k != "category"},
            **({"code": changes["category"]} if "category" in changes else {}),
        )
    assert refused.value.code == code
    assert refused.value.message
    assert _counts() == before


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("13800138000", "13800138000"),
        (" 138 0013 8000 ", "138 0013 8000"),
        ("+86 139-0000-1111", "+86 139-0000-1111"),
        ("１３８００１３８０００", "13800138000"),  # full-width, from a Chinese keyboard
        ("（0571）88886666", "(0571)88886666"),
        ("0571-88886666转123", "0571-88886666转123"),
        ("12345", "12345"),
        ("110", "110"),
    ],
)
def test_a_phone_as_people_write_it_is_taken(world, typed, kept):
    case = new_report(
        world, reporter=Reporter(anonymous=False, phone=typed), parties=[Party("张三", phone=typed)]
    )
    assert identity.unseal(case.reporter_phone) == kept
    assert case.parties[0].phone == kept


def test_unknown_category_by_code(world):
    with pytest.raises(ValidationFailed) as refused:
        submit_report(
            ReportDraft(village=world.v1, category="NOPE", description="x", source="grid_worker"),
            actor=world.worker1,
        )
    assert refused.value.code == "unknown_category"
    assert refused.value.details == {"field": "category"}


def test_inactive_category_is_refused(world):
    category("D02").active = False
    with pytest.raises(ValidationFailed) as refused:
        new_report(world)
    assert refused.value.code == "inactive_category"


def test_a_grid_worker_reports_only_their_villages(world):
    before = _counts()
    with pytest.raises(Forbidden):
        new_report(world, village=world.v2, actor=world.worker1)
    assert _counts() == before


def test_a_grid_from_another_village_is_refused(world):
    with pytest.raises(ValidationFailed) as refused:
        new_report(world, grid=world.g2)
    assert refused.value.code == "grid_not_in_village"


def test_a_disabled_account_cannot_report_or_act(world):
    case = new_report(world)
    world.center.active = False
    with pytest.raises(Forbidden):
        workflow.apply(case, "accept", actor=world.center)
    world.worker1.active = False
    with pytest.raises(Forbidden):
        new_report(world)


def _refused(case, action, actor, error, code=None, **fields):
    events = db.session.scalar(select(func.count(CaseEvent.id)).where(CaseEvent.case_id == case.id))
    status, version = case.status, case.version
    with pytest.raises(error) as refused:
        workflow.apply(case, action, actor=actor, **fields)
    if code:
        assert refused.value.code == code
    db.session.expire(case)
    assert (case.status, case.version) == (status, version)
    assert (
        db.session.scalar(select(func.count(CaseEvent.id)).where(CaseEvent.case_id == case.id))
        == events
    )
    return refused.value


def test_missing_required_field(world):
    case = case_in("submitted", world)
    error = _refused(case, "reject", world.center, ValidationFailed, "missing_field")
    assert error.details == {"field": "reason"}
    _refused(case, "reject", world.center, ValidationFailed, "missing_field", reason="  ")


def test_unknown_field_and_unknown_action(world):
    case = case_in("submitted", world)
    _refused(case, "accept", world.center, ValidationFailed, "unknown_field", colour="red")
    _refused(case, "approve", world.center, InvalidTransition, "unknown_action")


def test_actor_without_the_role(world):
    case = case_in("submitted", world)
    for actor in (world.leader, world.admin, world.worker1, world.justice_handler):
        _refused(case, "accept", actor, Forbidden, "forbidden")


def test_handler_of_another_department(world):
    case = case_in("dispatched", world)
    _refused(case, "sign_for", world.police_handler, Forbidden)
    # The co-handling department may give feedback but not sign for the case.
    _refused(case, "sign_for", world.committee1_handler, Forbidden)


def test_a_closed_case_cannot_be_worked(world):
    case = case_in("closed", world)
    for action in ("accept", "dispatch", "resolve", "close", "supervise"):
        actor = world.justice_handler if action == "resolve" else world.center
        _refused(case, action, actor, DomainError)
    error = _refused(
        case,
        "dispatch",
        world.center,
        InvalidTransition,
        "case_ended",
        lead_department=world.justice.id,
    )
    assert "已结案" in error.message


def test_bad_values_in_an_allowed_action_write_nothing(world):
    case = case_in("accepted", world)
    _refused(
        case,
        "dispatch",
        world.center,
        ValidationFailed,
        "unknown_reference",
        lead_department=999999,
    )
    _refused(
        case,
        "dispatch",
        world.center,
        ValidationFailed,
        "invalid_handler",
        lead_department=world.justice.id,
        handler=world.police_handler.id,
    )
    _refused(
        case,
        "dispatch",
        world.center,
        ValidationFailed,
        "due_in_past",
        lead_department=world.justice.id,
        due_at=clock.now() - timedelta(hours=1),
    )
    assert case.assignments == []
    in_progress = case_in("in_progress", world)
    _refused(
        in_progress,
        "resolve",
        world.justice_handler,
        ValidationFailed,
        "invalid_choice",
        result_code="sorted",
        result_text="好了",
    )
    _refused(
        in_progress,
        "request_extension",
        world.justice_handler,
        ValidationFailed,
        "parties_consent_required",
        until=in_progress.due_at + timedelta(days=3),
        reason="当事人外出",
    )
    _refused(
        in_progress,
        "request_extension",
        world.justice_handler,
        ValidationFailed,
        "extension_not_later",
        until=in_progress.due_at - timedelta(days=1),
        reason="当事人外出",
        parties_consent=True,
    )


def test_merge_needs_a_real_other_case(world):
    case = case_in("submitted", world)
    _refused(case, "merge", world.center, ValidationFailed, "invalid_merge_target", into=case.code)
    _refused(
        case, "merge", world.center, ValidationFailed, "invalid_merge_target", into="NOSUCHCODE00"
    )
    rejected = case_in("rejected", world)
    _refused(
        case, "merge", world.center, ValidationFailed, "invalid_merge_target", into=rejected.code
    )


def test_errors_carry_a_stable_code_and_chinese_text():
    error = ValidationFailed("请填写原因。", code="missing_field", field="reason")
    assert error.to_dict() == {
        "code": "missing_field",
        "message": "请填写原因。",
        "details": {"field": "reason"},
    }
    assert error.http_status == 422
    assert InvalidTransition().http_status == 409


@pytest.mark.parametrize("reason", [{"a": 1}, 42, ["x"], "字" * 2001, "   "])
def test_free_text_must_be_text(world, reason):
    case = case_in("in_progress", world)
    error = _refused(case, "return", world.justice_handler, ValidationFailed, reason=reason)
    assert error.code in {"missing_field", "too_long"}
    _refused(case, "supervise", world.center, ValidationFailed, note=reason)


def test_co_departments_must_be_a_list(world):
    case = case_in("accepted", world)
    _refused(
        case,
        "dispatch",
        world.center,
        ValidationFailed,
        "invalid_field",
        lead_department=world.justice.id,
        co_departments=world.committee1.id,
    )


def test_an_inactive_co_department_is_named_as_such(world):
    case = case_in("accepted", world)
    world.committee1.active = False
    error = _refused(
        case,
        "dispatch",
        world.center,
        ValidationFailed,
        "inactive_department",
        lead_department=world.justice.id,
        co_departments=[world.committee1.id],
    )
    assert error.details == {"field": "co_departments"}


def test_a_report_cannot_be_merged_into_a_closed_case(world):
    closed = case_in("closed", world)
    case = case_in("submitted", world)
    _refused(
        case, "merge", world.center, ValidationFailed, "invalid_merge_target", into=closed.code
    )


def test_closing_needs_a_follow_up_visit(world):
    case = case_in("follow_up", world)
    error = _refused(case, "close", world.center, InvalidTransition, closing_reason="resolved")
    assert "回访" in error.message


def test_an_expired_extension_request_cannot_be_approved(world):
    case = case_in("extension_pending", world)
    with clock.frozen_at(case.extension_requested_until + timedelta(minutes=1)):
        _refused(case, "approve_extension", world.center, ValidationFailed, "extension_expired")
