"""Deadlines chased by the sweep, follow-up visits, and notifications delivered."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from server.cases import outbox, workflow
from server.db import db
from server.follow_through import notifications, sweep
from server.infra import clock
from server.models import Case, CaseEvent, Notification, User, WeChatConsent
from tests.factories import build_world
from tests.fakes import FakeWeChat
from tests.helpers import case_in

START = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)  # Monday 09:00 in the town


def _events(case, action):
    return db.session.scalar(
        select(func.count(CaseEvent.id)).where(
            CaseEvent.case_id == case.id, CaseEvent.action == action
        )
    )


def _notes(case, kind):
    return db.session.scalar(
        select(func.count(Notification.id)).where(
            Notification.case_id == case.id, Notification.kind == kind
        )
    )


def test_a_dispatched_dispute_left_alone_is_supervised_once(world):
    with clock.frozen_at(START):
        case = case_in("dispatched", world)  # signing for is due in 1 working day
    due = case.due_at
    with clock.frozen_at(due - timedelta(minutes=1)):
        assert sweep.run()["overdue"] == 0
        assert not case.supervised
    with clock.frozen_at(due + timedelta(minutes=1)):
        result = sweep.run()
    assert (result["overdue"], result["supervised"]) == (1, 1)
    db.session.refresh(case)
    assert case.supervised
    assert case.clock_alert == "overdue"
    assert _events(case, "supervise") == 1
    queued = _notes(case, "supervise")
    assert queued >= 2  # the department's handler and the center
    for hours in (1, 5, 30):
        with clock.frozen_at(due + timedelta(hours=hours)):
            sweep.run()
    assert _events(case, "supervise") == 1  # not again at every sweep
    assert _notes(case, "supervise") == queued
    # Signing for starts a new clock, chased afresh.
    with clock.frozen_at(due + timedelta(hours=31)):
        workflow.apply(case, "sign_for", actor=world.justice_handler)
    assert case.clock_alert is None


def test_yellow_comes_before_red_and_once(world):
    with clock.frozen_at(START):
        case = case_in("submitted", world)  # accept: yellow at 1, red at 2 working days
    with clock.frozen_at(case.warn_at + timedelta(minutes=1)):
        assert sweep.run()["warned"] == 1
        assert sweep.run()["warned"] == 0
    db.session.refresh(case)
    assert case.clock_alert == "warn"
    assert _notes(case, "due_soon") >= 1


def test_an_urgent_report_not_accepted_in_time_goes_to_the_leaders(world):
    with clock.frozen_at(START):
        case = case_in("submitted", world, code="S01")
    assert _notes(case, "urgent_report") >= 1  # the center and police at once
    with clock.frozen_at(START + timedelta(minutes=31)):
        assert sweep.run()["escalated"] == 1
    leader_notes = db.session.scalar(
        select(func.count(Notification.id)).where(
            Notification.case_id == case.id, Notification.user_id == world.leader.id
        )
    )
    assert leader_notes >= 1
    assert _events(case, "escalate_to_leader") == 1


def test_two_sweeps_at_once_write_no_duplicate(fresh_app):
    with fresh_app.app_context():
        world = build_world()
        with clock.frozen_at(START):
            case = case_in("dispatched", world)
        case_id, due = case.id, case.due_at
        db.session.commit()
        db.session.remove()
    barrier = threading.Barrier(2, timeout=30)
    errors = []

    def run_sweep():
        with fresh_app.app_context():
            try:
                barrier.wait()
                sweep.run()
            except Exception as error:
                errors.append(error)
            finally:
                db.session.remove()

    # The clock is one for the process: frozen once, here. Frozen in each thread, the
    # thread that left last put back the time the other had frozen, and every later test
    # of the run read its day as 2 June (a figures test counted nothing).
    with clock.frozen_at(due + timedelta(minutes=5)):
        threads = [threading.Thread(target=run_sweep) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert errors == []
    with fresh_app.app_context():
        case = db.session.get(Case, case_id)
        assert _events(case, "supervise") == 1
        db.session.remove()


def test_back_again_reopens_and_the_case_closes_after_a_good_visit(world):
    case = case_in("resolved", world)
    workflow.apply(case, "verify", actor=world.center)
    workflow.apply(
        case,
        "record_visit",
        actor=world.worker1,
        text="又吵起来了",
        outcome="back_again",
        satisfaction="dissatisfied",
    )
    assert case.status == "accepted"
    workflow.apply(case, "dispatch", actor=world.center, lead_department=world.justice.id)
    workflow.apply(case, "sign_for", actor=world.justice_handler)
    workflow.apply(
        case,
        "resolve",
        actor=world.justice_handler,
        result_code="mediated",
        result_text="重新调解，双方签字。",
    )
    workflow.apply(case, "verify", actor=world.center)
    workflow.apply(
        case,
        "record_visit",
        actor=world.worker1,
        text="已解决",
        outcome="gone",
        satisfaction="satisfied",
    )
    workflow.apply(case, "close", actor=world.center, closing_reason="resolved")
    actions = [e.action for e in case.events]
    assert actions.count("reopen") == 1
    assert actions[-3:] == ["verify", "record_visit", "close"]
    visits = [e.data.get("satisfaction") for e in case.events if e.action == "record_visit"]
    assert visits == ["dissatisfied", "satisfied"]


@pytest.fixture
def wechat_app(app, world):
    """The app pointed at the fake WeChat, the worker bound and consenting once."""
    with FakeWeChat() as fake:
        saved = dict(app.config)
        app.config.update(
            WECHAT_MODE="live",
            WECHAT_API_BASE=fake.base_url,
            WECHAT_APPID="wx-app",
            WECHAT_SECRET="s",
            WECHAT_TIMEOUT_SECONDS=1,
            WECHAT_TEMPLATE_ID="TPL-1",
        )
        world.justice_handler.wechat_openid = "OPENID-J"
        db.session.add(
            WeChatConsent(user_id=world.justice_handler.id, template_id="TPL-1", credits=1)
        )
        db.session.flush()
        yield fake
        app.config.clear()
        app.config.update(saved)


def _wechat_notes(user: User):
    return db.session.scalars(
        select(Notification).where(
            Notification.user_id == user.id, Notification.channel == "wechat"
        )
    ).all()


def test_wechat_sends_once_per_consent(world, wechat_app):
    case_in("dispatched", world)  # queues a notification to the justice office
    outcome = notifications.deliver_due()
    assert outcome["sent"] >= 1
    assert len(wechat_app.sent) == 1
    assert wechat_app.sent[0]["touser"] == "OPENID-J"
    assert db.session.get(WeChatConsent, (world.justice_handler.id, "TPL-1")).credits == 0
    # A second message finds no consent left: not sent.
    outbox.queue([world.justice_handler], "test", case=None, title="再一条", body="x")
    notifications.deliver_due()
    assert len(wechat_app.sent) == 1
    assert [n.status for n in _wechat_notes(world.justice_handler)] == ["sent", "skipped"]


def test_an_expired_token_is_refreshed_and_the_send_retried(world, wechat_app):
    wechat_app.send_mode = "expired_once"
    case_in("dispatched", world)
    notifications.deliver_due()
    assert len(wechat_app.sent) == 1
    assert wechat_app.tokens_issued == 2
    assert [n.status for n in _wechat_notes(world.justice_handler)] == ["sent"]


def test_a_refused_consent_sends_nothing(world, wechat_app):
    wechat_app.send_mode = "no_consent"
    case_in("dispatched", world)
    notifications.deliver_due()
    assert wechat_app.sent == []
    assert [n.status for n in _wechat_notes(world.justice_handler)] == ["skipped"]


def test_wechat_down_retries_with_backoff_then_gives_up(world, wechat_app):
    wechat_app.send_mode = "down"
    with clock.frozen_at(START):
        case_in("dispatched", world)
        moment = START
        for attempt in range(1, notifications.MAX_ATTEMPTS + 1):
            notifications.deliver_due()
            note = _wechat_notes(world.justice_handler)[0]
            db.session.refresh(note)
            if attempt < notifications.MAX_ATTEMPTS:
                assert note.status == "pending"
                wait = note.next_attempt_at - moment
                assert wait == timedelta(minutes=2 ** (attempt - 1))
                moment = note.next_attempt_at
                clock.advance(wait)
    assert note.status == "dead"
    assert note.attempts == notifications.MAX_ATTEMPTS
    # The case and the other channels are untouched by the failure.
    inbox = db.session.scalars(
        select(Notification).where(
            Notification.user_id == world.justice_handler.id, Notification.channel == "inbox"
        )
    ).all()
    assert {n.status for n in inbox} == {"sent"}


def test_the_mini_program_reports_consent(client, world):
    from tests.factories import PASSWORD

    token = client.post(
        "/api/v1/auth/login", json={"username": "t_justice", "password": PASSWORD}
    ).json["token"]
    headers = {"Authorization": f"Bearer {token}"}
    first = client.post(
        "/api/v1/wechat/consents", headers=headers, json={"template_ids": ["TPL-1", "TPL-1"]}
    )
    assert first.json == {"credits": {"TPL-1": 1}}
    again = client.post(
        "/api/v1/wechat/consents", headers=headers, json={"template_ids": ["TPL-1"]}
    )
    assert again.json == {"credits": {"TPL-1": 2}}
    # One acceptance sent twice with its key (the answer lost): one credit, not two.
    keyed = headers | {"Idempotency-Key": "8d7f0c43-5a55-4a8e-9d7e-6b0d4e1f2a11"}
    for _ in range(2):
        resent = client.post(
            "/api/v1/wechat/consents", headers=keyed, json={"template_ids": ["TPL-1"]}
        )
        assert resent.json == {"credits": {"TPL-1": 3}}


def test_the_inbox_and_the_supervision_list(client, world):
    from tests.admin.conftest import csrf_from
    from tests.factories import PASSWORD

    with clock.frozen_at(START):
        case = case_in("dispatched", world)
    with clock.frozen_at(case.due_at + timedelta(hours=2)):
        sweep.run()
    db.session.flush()
    token = csrf_from(client.get("/admin/login").get_data(as_text=True))
    client.post(
        "/admin/login", data={"csrf_token": token, "username": "t_center", "password": PASSWORD}
    )
    page = client.get("/admin/").get_data(as_text=True)
    assert 'id="unread"' in page
    inbox = client.get("/admin/inbox").get_data(as_text=True)
    assert "督办" in inbox
    supervised = client.get("/admin/supervision").get_data(as_text=True)
    assert case.code[:4] in supervised
    client.post("/admin/inbox/read", data={"csrf_token": csrf_from(inbox)})
    assert 'id="unread"' not in client.get("/admin/").get_data(as_text=True)


def test_satisfaction_is_kept_per_case_and_the_visit_is_the_grid_workers_task(world):
    case = case_in("resolved", world)
    workflow.apply(case, "verify", actor=world.center)
    task = db.session.scalars(
        select(Notification).where(Notification.case_id == case.id, Notification.kind == "verify")
    ).all()
    assert {n.user_id for n in task} == {world.worker1.id}
    workflow.apply(
        case,
        "record_visit",
        actor=world.worker1,
        text="满意",
        outcome="gone",
        satisfaction="basically_satisfied",
    )
    assert case.satisfaction == "basically_satisfied"


def test_a_mediation_agreement_gets_one_confirmation_reminder(world):
    with clock.frozen_at(START):
        case = case_in("resolved", world)  # result: mediated
    for days in (20, 26, 27, 31):
        with clock.frozen_at(START + timedelta(days=days)):
            sweep.run()
    reminders = db.session.scalars(
        select(Notification).where(
            Notification.case_id == case.id, Notification.kind == "judicial_confirmation"
        )
    ).all()
    assert reminders
    assert len({(n.user_id, n.channel) for n in reminders}) == len(reminders)  # once each
    assert min(n.created_at for n in reminders) >= START + timedelta(days=25)


def test_the_deep_link_names_the_case_by_its_number(world, wechat_app):
    case = case_in("dispatched", world)
    notifications.deliver_due()
    assert wechat_app.sent[0]["page"] == f"pages/case/detail?code={case.code}"


def test_notify_in_fake_mode_with_a_template_sends_offline(world, app, runner):
    saved = dict(app.config)
    app.config.update(WECHAT_MODE="fake", WECHAT_TEMPLATE_ID="TPL-1")
    try:
        world.justice_handler.wechat_openid = "fake-openid-j"
        db.session.add(
            WeChatConsent(user_id=world.justice_handler.id, template_id="TPL-1", credits=1)
        )
        case_in("dispatched", world)
        result = runner.invoke(args=["notify"])
        assert result.exit_code == 0, result.output
    finally:
        app.config.clear()
        app.config.update(saved)
    assert [n.status for n in _wechat_notes(world.justice_handler)] == ["sent"]
    assert db.session.get(WeChatConsent, (world.justice_handler.id, "TPL-1")).credits == 0
    pending = db.session.scalar(
        select(func.count(Notification.id)).where(Notification.status == "pending")
    )
    assert pending == 0


def test_one_failing_message_never_holds_back_the_others(world, monkeypatch):
    class Gateway:  # the SMS interface, with one number whose carrier is down
        sent: list[str] = []

        def send(self, phone, text):
            if phone == "13900000000":
                raise ConnectionError("carrier down")
            self.sent.append(phone)

    gateway = Gateway()
    monkeypatch.setattr(notifications, "sms_gateway", lambda: gateway)
    world.justice_handler.phone = "13900000000"
    world.committee1_handler.phone = "13800000000"
    with clock.frozen_at(START):
        case_in("dispatched", world)  # the justice office and the committee hear of it
        notifications.deliver_due()
    assert gateway.sent == ["13800000000"]
    failing = db.session.scalar(
        select(Notification).where(
            Notification.user_id == world.justice_handler.id, Notification.channel == "sms"
        )
    )
    assert (failing.status, failing.attempts, failing.last_error) == (
        "pending",
        1,
        "ConnectionError",
    )
    moment = START
    for _attempt in range(notifications.MAX_ATTEMPTS):
        moment += timedelta(hours=1)
        with clock.frozen_at(moment):
            notifications.deliver_due()
    db.session.refresh(failing)
    assert failing.status == "dead"
    assert gateway.sent == ["13800000000"]  # the good one went once
    inbox = db.session.scalars(
        select(Notification.status).where(
            Notification.user_id == world.justice_handler.id, Notification.channel == "inbox"
        )
    )
    assert set(inbox) == {"sent"}


# Who hears that a step comes due or is late: whoever must act for it (outbox.step_holders),
# not the departments whose work is done (found by an independent review, helper-33).
STEP_START = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)  # Monday 09:00 in the town


def _told_of_step(case, kind):
    return {
        n.user_id
        for n in db.session.scalars(
            select(Notification).where(Notification.case_id == case.id, Notification.kind == kind)
        )
    }


def test_verify_step_due_soon_reaches_the_center(world):
    with clock.frozen_at(STEP_START):
        case = case_in("resolved", world)
    assert case.step.value == "verify"
    with clock.frozen_at(case.warn_at + timedelta(minutes=1)):
        assert sweep.run()["warned"] == 1
    who = _told_of_step(case, "due_soon")
    assert world.center.id in who, "the center's verification step warned the department instead"
    assert world.justice_handler.id not in who


def test_follow_up_visit_due_soon_reaches_the_grid_worker(world):
    with clock.frozen_at(STEP_START):
        case = case_in("follow_up", world)
    assert case.step.value == "follow_up"
    with clock.frozen_at(case.warn_at + timedelta(minutes=1)):
        assert sweep.run()["warned"] == 1
    who = _told_of_step(case, "due_soon")
    assert world.worker1.id in who, "the visit's due-soon went to the departments, not the visitor"


def test_follow_up_visit_overdue_chase_reaches_the_grid_worker(world):
    with clock.frozen_at(STEP_START):
        case = case_in("follow_up", world)
    case.supervised = True  # already supervised: the sweep chases
    db.session.flush()
    with clock.frozen_at(case.due_at + timedelta(minutes=1)):
        sweep.run()
    who = _told_of_step(case, "chase")
    assert world.worker1.id in who


def test_verify_step_overdue_chase_reaches_the_center(world):
    with clock.frozen_at(STEP_START):
        case = case_in("resolved", world)
    case.supervised = True  # supervised during handling: the sweep now chases
    db.session.flush()
    with clock.frozen_at(case.due_at + timedelta(minutes=1)):
        sweep.run()
    who = _told_of_step(case, "chase")
    assert world.center.id in who


def test_a_reopened_case_late_again_is_supervised_again(world):
    """督办 belongs to a round: a case supervised when late, then settled, closed and
    reopened, is supervised afresh when the new round is late (it was only chased)."""
    with clock.frozen_at(STEP_START):
        case = case_in("dispatched", world)
    with clock.frozen_at(case.due_at + timedelta(minutes=1)):
        sweep.run()
    assert case.supervised
    with clock.frozen_at(case.due_at + timedelta(hours=2)):
        for action, actor, fields in [
            ("sign_for", world.justice_handler, {}),
            ("resolve", world.justice_handler, {"result_code": "mediated", "result_text": "好了"}),
            ("verify", world.center, {}),
            ("record_visit", world.worker1, {"outcome": "gone", "text": "好"}),
            ("close", world.center, {"closing_reason": "resolved"}),
            ("reopen", world.worker1, {"reason": "又吵起来了"}),
        ]:
            workflow.apply(case, action, actor=actor, **fields)
    assert not case.supervised
    with clock.frozen_at(case.due_at + timedelta(minutes=1)):
        assert sweep.run()["supervised"] == 1


def test_a_report_held_in_a_flood_alerts_nobody_even_when_late(world):
    """A report past its village's limit is held apart for the center, alerting nobody
    (operations.submit_report): late, it does not page the leaders either."""
    from server.cases.operations import ReportDraft, submit_report
    from tests.factories import category

    with clock.frozen_at(STEP_START):
        case = submit_report(
            ReportDraft(
                village=world.v1,
                category=category("S01"),
                description="有人打架",
                source="qr",
                happening_now=True,
            ),
            actor=None,
            held=True,
        )
    with clock.frozen_at(STEP_START + timedelta(minutes=31)):
        counts = sweep.run()
    assert counts["overdue"] == 1
    assert counts["escalated"] == 0
    told = db.session.scalar(select(func.count()).where(Notification.case_id == case.id))
    assert told == 0
