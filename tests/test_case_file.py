"""Issue 19, points 1 and 2: a dispute walked from its application to the archive.

Papers are made from templates with the case's facts, edited on the phone and at the
desk, the agreement printed and its signed scan filed; the follow-up visit checks each
term; closing files the case with its number for the year; the case file PDF has every
part, and its text (read back with pypdf) names the parties, the terms and the timeline.
"""

from __future__ import annotations

import io
import re
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import select

from server.casefile import archive, documents, numbering, scans
from server.cases import media, workflow
from server.cases.operations import Party, Reporter
from server.db import db
from server.follow_through import sweep
from server.infra import clock
from server.infra.errors import ValidationFailed
from server.models import (
    AuditEntry,
    Case,
    CaseArchive,
    CaseDocument,
    DocumentKind,
    Notification,
    Retention,
    Town,
    User,
)
from tests.api.conftest import key
from tests.factories import build_world
from tests.helpers import case_in, new_report

FACTS = "张三与李四两家因宅基地旁排水沟的走向争执，李四砌墙堵沟，雨后张三家院内积水。"
TERMS = [
    ("李四于协议签订后十日内拆除堵沟的砖墙，恢复排水沟原状。", "自行拆除", "2026-12-20"),
    ("张三一次性补偿李四砌墙材料费人民币800元。", "现金当面支付", "2026-12-10"),
]


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (400, 560), "white").save(out, "JPEG")
    return out.getvalue()


def _pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


@pytest.fixture
def dispute(world):
    """A neighbours' dispute with two parties, dispatched to the village's committee."""
    return new_report(
        world,
        "D02",
        description=FACTS,
        place_text="东村三组",
        parties=[Party("张三"), Party("李四", side="respondent")],
        actor=world.center,
        source="walk_in",
        reporter=Reporter(anonymous=False, name="王举报", phone="13900002222"),
    )


def test_a_dispute_from_application_to_archive(client, world, login, signin, dispute):
    code = dispute.code
    year = clock.local(clock.now()).year
    center, mediator, grid = (
        login(u) for u in (world.center, world.committee1_handler, world.worker1)
    )

    def act(headers, action, expect=200, **fields):
        url = f"/api/v1/cases/{code}"
        version = client.get(url, headers=headers).json["version"]
        answer = client.post(
            f"{url}/actions",
            headers=headers | key(),
            json={"action": action, "version": version, **fields},
        )
        assert answer.status_code == expect, (action, answer.json)
        return answer.json

    act(center, "accept")
    act(center, "dispatch", lead_department=world.committee1.id)
    act(mediator, "sign_for")

    # On the phone: the application, the rights notice and a session record, filled in.
    made = {}
    for kind in ("application", "rights_notice", "session_record"):
        answer = client.post(
            f"/api/v1/cases/{code}/documents", headers=mediator | key(), json={"kind": kind}
        )
        assert answer.status_code == 201, answer.json
        made[kind] = answer.json
    application = made["application"]["content"]
    assert application["applicants"] == "张三"
    assert application["respondents"] == "李四"
    assert application["facts"] == FACTS
    assert made["application"]["number"] == f"〔{year}〕大调申字第1号"
    assert "选择或者接受人民调解员" not in str(made["rights_notice"]["content"])  # fixed text
    assert made["rights_notice"]["signatures"][-1] == "人民调解员（签名）"
    session_record = made["session_record"]
    assert session_record["content"]["session"] == "第1次"
    edited = client.patch(
        f"/api/v1/cases/{code}/documents/{session_record['id']}",
        headers=mediator,
        json={
            "version": session_record["version"],
            "content": {"record": "申请人张三称：沟被堵后院里积水。\n被申请人李四称：愿意拆墙。"},
        },
    )
    assert edited.status_code == 200, edited.json
    stale = client.patch(
        f"/api/v1/cases/{code}/documents/{session_record['id']}",
        headers=mediator,
        json={"version": session_record["version"], "content": {"outcome": "达成协议"}},
    )
    assert stale.status_code == 409
    assert stale.json["code"] == "stale_document"
    again = client.post(
        f"/api/v1/cases/{code}/documents", headers=mediator | key(), json={"kind": "application"}
    )
    assert again.status_code == 422
    assert again.json["code"] == "document_exists"

    # At the desk: the agreement, its terms, printed on A4, signed and scanned back.
    token = signin(world.committee1_handler)
    page = client.post(
        f"/admin/cases/{code}/documents",
        data={"csrf_token": token, "kind": "agreement"},
        follow_redirects=True,
    )
    assert page.status_code == 200
    agreement = db.session.scalar(
        select(CaseDocument).where(
            CaseDocument.case_id == dispute.id, CaseDocument.kind == DocumentKind.AGREEMENT
        )
    )
    assert agreement.number == f"〔{year}〕大调字第1号"
    assert agreement.content["facts"] == FACTS
    signed_on = clock.local(clock.now()).date().isoformat()
    saved = client.post(
        f"/admin/cases/{code}/documents/{agreement.id}",
        data={
            "csrf_token": token,
            "version": agreement.version,
            "facts": FACTS,
            "signed_on": signed_on,
            "term_text": [t[0] for t in TERMS] + [""],
            "term_performance": [t[1] for t in TERMS] + [""],
            "term_due_on": [t[2] for t in TERMS] + [""],
        },
        follow_redirects=True,
    )
    assert "文书已保存" in saved.get_data(as_text=True)
    db.session.refresh(agreement)
    assert [t.text for t in agreement.terms] == [t[0] for t in TERMS]
    printed = client.get(f"/admin/cases/{code}/documents/{agreement.id}/print")
    html = printed.get_data(as_text=True)
    assert "人民调解协议书" in html
    assert agreement.number in html
    assert all(t[0] in html for t in TERMS)
    assert "申请人（签名）" in html
    assert "人民调解委员会（盖章）" in html
    with client.get("/admin/static/document.css") as style:
        assert "@page" in style.get_data(as_text=True)
    filed = client.post(
        f"/admin/cases/{code}/documents/{agreement.id}/scans",
        data={"csrf_token": token, "file": (io.BytesIO(_jpeg()), "signed.jpg")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "签字文书已上传" in filed.get_data(as_text=True)
    db.session.refresh(agreement)
    assert agreement.signed_at is not None
    assert len(agreement.scans) == 1
    # What was signed stays as signed.
    locked = client.patch(
        f"/api/v1/cases/{code}/documents/{agreement.id}",
        headers=mediator,
        json={"version": agreement.version, "content": {"facts": "改过的事实"}},
    )
    assert locked.status_code == 422
    assert locked.json["code"] == "document_signed"
    # A PDF scan is taken by its magic bytes; anything else is refused.
    pdf_scan = client.post(
        f"/api/v1/cases/{code}/documents/{session_record['id']}/scans",
        headers=mediator,
        data={"file": (io.BytesIO(b"%PDF-1.4\n1 0 obj\n%%EOF\n"), "record.pdf")},
        content_type="multipart/form-data",
    )
    assert pdf_scan.status_code == 201, pdf_scan.json
    assert pdf_scan.json["content_type"] == "application/pdf"
    not_a_scan = client.post(
        f"/api/v1/cases/{code}/documents/{session_record['id']}/scans",
        headers=mediator,
        data={"file": (io.BytesIO(b"MZ\x90\x00 not a document"), "x.exe")},
        content_type="multipart/form-data",
    )
    assert not_a_scan.status_code == 415

    act(mediator, "resolve", result_code="mediated", result_text="双方达成人民调解协议。")
    act(center, "verify")

    # The follow-up visit answers for each term of the agreement.
    terms = {str(t.id): True for t in agreement.terms}
    unchecked = act(grid, "record_visit", 422, outcome="kept", text="回访。", terms={})
    assert unchecked["code"] == "terms_unchecked"
    one_broken = {**terms, str(agreement.terms[1].id): False}
    wrong = act(grid, "record_visit", 422, outcome="kept", text="回访。", terms=one_broken)
    assert wrong["code"] == "terms_not_kept"
    act(
        grid,
        "record_visit",
        outcome="kept",
        satisfaction="satisfied",
        text="砖墙已拆除，补偿款已当面付清。",
        terms=terms,
    )
    db.session.refresh(agreement)
    assert [t.kept for t in agreement.terms] == [True, True]
    visit = client.post(
        f"/api/v1/cases/{code}/documents", headers=center | key(), json={"kind": "visit_record"}
    ).json
    assert "已履行" in visit["content"]["performance"]
    closed = act(center, "close", closing_reason="resolved")
    assert closed["status"] == "closed"

    entry = db.session.scalar(select(CaseArchive).where(CaseArchive.case_id == dispute.id))
    assert entry.number == f"〔{year}〕大档字第1号"
    assert entry.retention == Retention.LONG  # settled by an agreement
    # Closed: the papers are kept as they are.
    late = client.post(
        f"/api/v1/cases/{code}/documents", headers=mediator | key(), json={"kind": "confirmation"}
    )
    assert late.status_code == 403
    assert late.json["code"] == "papers_forbidden"

    # The center's page links the case file; the file has every part.
    signin(world.center)
    case_page = client.get(f"/admin/cases/{code}").get_data(as_text=True)
    link = f"/admin/cases/{code}/case-file.pdf"
    assert link in case_page
    assert entry.number in case_page
    printed_file = client.get(f"/admin/cases/{code}/print").get_data(as_text=True)
    assert entry.number in printed_file
    assert agreement.number in printed_file
    response = client.get(link)
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    text = _pdf_text(response.data)
    for part in ("矛盾纠纷调处化解案卷", "卷号", entry.number, "保管期限", "长期", "归档日期"):
        assert part in text, part
    assert "卷内目录" in text
    assert "办理过程" in text
    assert "照片" in text
    for kind in DocumentKind:
        if kind != DocumentKind.CONFIRMATION:
            assert kind.label in text, kind
    compact = re.sub(r"\s+", "", text)
    assert "张三" in text
    assert "李四" in text
    for term_text, _how, _due in TERMS:
        assert re.sub(r"\s+", "", term_text) in compact
    for step in (
        "受理",
        "派遣",
        "签收",
        "办结",
        "核查",
        "回访",
        "结案",
        "制作文书",
        "上传签字文书",
    ):
        assert step in compact, step
    assert "已履行" in text
    assert "王举报" in text  # the center sees the informant
    downloads = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "casefile.downloaded")
    ).all()
    assert [d.object_id for d in downloads] == [code]


def test_the_case_file_hides_the_informant_from_all_but_the_center(client, world, login, dispute):
    for user in (world.leader, world.committee1_handler):
        if user is world.committee1_handler:
            workflow.apply(dispute, "accept", actor=world.center)
            workflow.apply(
                dispute, "dispatch", actor=world.center, lead_department=world.committee1.id
            )
        answer = client.get(f"/api/v1/cases/{dispute.code}/case-file.pdf", headers=login(user))
        assert answer.status_code == 200, answer.json
        text = _pdf_text(answer.data)
        assert "张三" in text
        assert "王举报" not in text
        assert "13900002222" not in text
        assert "举报人" not in text
    center = client.get(f"/api/v1/cases/{dispute.code}/case-file.pdf", headers=login(world.center))
    assert "王举报" in _pdf_text(center.data)
    assert db.session.scalar(
        select(AuditEntry).where(
            AuditEntry.action == "case.view_informant", AuditEntry.object_id == dispute.code
        )
    )


def test_a_handler_of_another_department_finds_nothing(client, world, login, dispute, signin):
    workflow.apply(dispute, "accept", actor=world.center)
    workflow.apply(dispute, "dispatch", actor=world.center, lead_department=world.committee1.id)
    mediator = login(world.committee1_handler)
    made = client.post(
        f"/api/v1/cases/{dispute.code}/documents",
        headers=mediator | key(),
        json={"kind": "agreement"},
    )
    assert made.status_code == 201
    police = login(world.police_handler)
    for url in (
        f"/api/v1/cases/{dispute.code}/documents",
        f"/api/v1/cases/{dispute.code}/case-file.pdf",
    ):
        assert client.get(url, headers=police).status_code == 404, url
    assert (
        client.post(
            f"/api/v1/cases/{dispute.code}/documents",
            headers=police | key(),
            json={"kind": "application"},
        ).status_code
        == 404
    )
    signin(world.police_handler)
    document_id = made.json["id"]
    for url in (
        f"/admin/cases/{dispute.code}/documents/{document_id}",
        f"/admin/cases/{dispute.code}/documents/{document_id}/print",
        f"/admin/cases/{dispute.code}/case-file.pdf",
    ):
        assert client.get(url).status_code == 404, url
    # A leader reads, and keeps no papers.
    leader = login(world.leader)
    listed = client.get(f"/api/v1/cases/{dispute.code}/documents", headers=leader)
    assert listed.status_code == 200
    assert listed.json["kinds"] == []


@pytest.mark.committing
def test_two_mediators_at_once_get_different_numbers(fresh_app):
    year, numbers, errors = 2031, [], []
    barrier = threading.Barrier(2)
    with fresh_app.app_context():
        towns = [Town(name="大钟庄镇"), Town(name="小王庄镇")]
        db.session.add_all(towns)
        db.session.commit()
        town, other = (db.session.get(Town, t.id) for t in towns)
        db.session.remove()

    def take():
        try:
            with fresh_app.app_context():
                barrier.wait(timeout=10)
                numbers.append(numbering.take("agreement", year, town))
                db.session.commit()
                db.session.remove()
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=take) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(numbers) == [1, 2]
    with fresh_app.app_context():
        assert numbering.take("agreement", year, town) == 3
        assert numbering.take("agreement", year + 1, town) == 1
        assert numbering.take("agreement", year, other) == 1  # each town its own
        db.session.rollback()


START = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)  # Monday 09:00 in the town


def _reminders(case) -> list[Notification]:
    return db.session.scalars(
        select(Notification).where(
            Notification.case_id == case.id, Notification.kind == "judicial_confirmation"
        )
    ).all()


def test_the_confirmation_reminder_runs_from_the_agreements_signing(world):
    """Resolved on 1 June, the agreement signed on 11 June: its 30 days end on 11 July,
    and the reminder comes five days before that, not before 1 July."""
    with clock.frozen_at(START):
        case = case_in("in_progress", world)
        agreement = documents.make(case, "agreement", actor=world.center)
        documents.edit(
            agreement,
            {"signed_on": "2026-06-11"},
            actor=world.center,
            terms=[documents.TermDraft("赔偿八百元。")],
        )
        workflow.apply(
            case, "resolve", actor=world.justice_handler, result_code="mediated", result_text="好"
        )
    with clock.frozen_at(START + timedelta(days=10)):
        scans.attach(agreement, scans.prepare(_jpeg()), actor=world.center)
    assert clock.local(agreement.signed_at).date().isoformat() == "2026-06-11"
    with clock.frozen_at(START + timedelta(days=27)):  # 27 days after the result
        sweep.run()
    assert _reminders(case) == []
    with clock.frozen_at(START + timedelta(days=36)):  # 25 days after the signing
        sweep.run()
    reminders = _reminders(case)
    assert reminders
    assert "07月11日" in reminders[0].body
    with clock.frozen_at(START + timedelta(days=37)):
        sweep.run()
    assert len(_reminders(case)) == len(reminders)  # once


def test_a_reopened_case_keeps_its_archive_number_and_its_long_retention(world):
    """Closed again after a reopening, the file keeps its number, and it stays long: the
    first round's mediation (a contract the parties may still take to court) is in it,
    whatever the second round found."""
    closed = case_in("closed", world)
    entry = archive.archive_of(closed)
    year = clock.local(entry.archived_at).year
    assert entry.number == f"〔{year}〕大档字第1号"
    assert entry.retention == Retention.LONG  # the helpers resolve as mediated
    workflow.apply(closed, "reopen", actor=world.center, reason="回访发现问题再次出现。")
    for action, fields in (
        ("dispatch", {"lead_department": world.justice.id}),
        ("sign_for", {}),
        ("resolve", {"result_code": "no_action_needed", "result_text": "经核实无需处置。"}),
        ("verify", {}),
        ("record_visit", {"outcome": "kept", "text": "已履行。"}),
        ("close", {"closing_reason": "no_further_action"}),
    ):
        actor = world.justice_handler if action in ("sign_for", "resolve") else world.center
        workflow.apply(closed, action, actor=actor, **fields)
    again = archive.archive_of(closed)
    assert again.id == entry.id
    assert again.number == entry.number
    assert again.retention == Retention.LONG
    assert again.note == "经调解达成协议"
    hazard = case_in("closed", world, code="H01")
    assert archive.archive_of(hazard).number == f"〔{year}〕大档字第2号"


def test_the_desks_visit_form_asks_each_term(client, world, signin):
    case = case_in("follow_up", world)
    agreement = documents.make(case, "agreement", actor=world.center)
    documents.edit(
        agreement,
        {},
        actor=world.center,
        terms=[documents.TermDraft("拆墙。"), documents.TermDraft("赔偿八百元。")],
    )
    first, second = agreement.terms
    token = signin(world.center)
    page = client.get(f"/admin/cases/{case.code}").get_data(as_text=True)
    assert f'name="term_{first.id}"' in page
    assert "赔偿八百元。" in page
    client.post(
        f"/admin/cases/{case.code}/actions/record_visit",
        data={
            "csrf_token": token,
            "version": case.version,
            "outcome": "broken",
            "text": "赔偿款未付。",
            f"term_{first.id}": "yes",
            f"term_{second.id}": "no",
        },
    )
    db.session.refresh(first)
    db.session.refresh(second)
    assert (first.kept, second.kept) == (True, False)
    db.session.refresh(case)
    assert case.status.value == "accepted"  # a broken agreement reopens the case


def test_the_same_paper_made_twice_at_once_is_made_once(fresh_app):
    """A double tap: two requests make the case's agreement at the same moment. Taking
    the number first makes them take turns; the second finds the first's and is refused."""
    with fresh_app.app_context():
        world = build_world()
        case = case_in("in_progress", world)
        case_id, center_id = case.id, world.center.id
        db.session.commit()
        db.session.remove()
    made, refused, errors = [], [], []
    barrier = threading.Barrier(2)

    def make():
        try:
            with fresh_app.app_context():
                case, center = db.session.get(Case, case_id), db.session.get(User, center_id)
                barrier.wait(timeout=10)
                try:
                    made.append(documents.make(case, "agreement", actor=center).number)
                    db.session.commit()
                except ValidationFailed as error:
                    db.session.rollback()
                    refused.append(error.code)
                db.session.remove()
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=make) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(made) == 1
    assert refused == ["document_exists"]
    with fresh_app.app_context():
        papers = db.session.scalars(select(CaseDocument).where(CaseDocument.case_id == case_id))
        assert [p.number for p in papers] == made


def test_a_scan_filed_in_a_request_that_rolls_back_leaves_no_file(fresh_app):
    """A signed scan's file is written before its row: when the request fails after it
    (a step refused once the scan is written), the file goes with the row; a request that
    commits keeps it (server/db/files.py, as for photos)."""
    from pathlib import Path

    from server.models import CaseDocument, DocumentScan, User
    from tests.factories import build_world
    from tests.helpers import case_in

    with fresh_app.app_context():
        world = build_world()
        case = case_in("in_progress", world)
        agreement = documents.make(case, "agreement", actor=world.center)
        db.session.commit()
        ids = (agreement.id, world.center.id)

    def files() -> set[Path]:
        return {p for p in Path(fresh_app.config["MEDIA_ROOT"]).rglob("*") if p.is_file()}

    before = files()
    for finish in (db.session.rollback, db.session.commit):
        with fresh_app.test_request_context("/"):
            paper = db.session.get(CaseDocument, ids[0])
            center = db.session.get(User, ids[1])
            scans.attach(paper, scans.prepare(_jpeg()), actor=center)
            finish()
    added = files() - before
    assert len(added) == 1  # the committed one's
    with fresh_app.app_context():
        kept = db.session.scalars(select(DocumentScan.storage_key)).all()
    assert [p.name for p in added] == kept


def _signed_jpeg(shade="white") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (400, 560), shade).save(out, "JPEG")
    return out.getvalue()


def test_a_signed_scan_resent_after_a_lost_answer_is_filed_once(client, world, login):
    """The workbench sends the scan with a key; its answer lost, it sends the same file
    again with the same key (a new multipart boundary): one scan, one timeline entry, the
    same answer. Another file under that key is refused; a client sending no key is
    served as before."""
    from server.models import CaseEvent, DocumentScan

    case = case_in("in_progress", world)
    paper = documents.make(case, "agreement", actor=world.justice_handler)
    db.session.flush()
    url = f"/api/v1/cases/{case.code}/documents/{paper.id}/scans"
    sent = key()

    def send(raw, headers):
        return client.post(
            url,
            headers=login(world.justice_handler) | headers,
            data={"file": (io.BytesIO(raw), "signed.jpg")},
            content_type="multipart/form-data",
        )

    def filed() -> tuple[int, int]:
        scans_ = select(DocumentScan).where(DocumentScan.document_id == paper.id)
        events = select(CaseEvent).where(
            CaseEvent.case_id == case.id, CaseEvent.action == "upload_scan"
        )
        return len(db.session.scalars(scans_).all()), len(db.session.scalars(events).all())

    raw = _signed_jpeg()
    first, again = send(raw, sent), send(raw, sent)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert filed() == (1, 1)
    other = send(_signed_jpeg("lightgray"), sent)
    assert other.status_code == 422
    assert other.json["code"] == "idempotency_key_reused"
    assert send(_signed_jpeg("gray"), {}).status_code == 201  # no key: taken as it comes
    assert filed() == (2, 2)


@pytest.mark.parametrize("typed", ["0001-01-01", "0206-12-06", "2206-12-06"])
def test_a_paper_date_outside_the_app_s_years_is_refused(client, world, login, typed):
    """A slip of the thumb in a date field (0206 for 2026) is refused with the field's
    name, as every date of the app is, not filed: a signing date in year 1 once broke the
    signed scan's filing with a 500, and in 206 the judicial-confirmation reminder never
    came. An agreement's term due that year is refused too."""
    case = case_in("in_progress", world)
    paper = documents.make(case, "agreement", actor=world.justice_handler)
    db.session.flush()
    with pytest.raises(ValidationFailed) as refused:
        documents.edit(paper, {"signed_on": typed}, actor=world.justice_handler)
    assert refused.value.code == "date_out_of_range"
    assert refused.value.details == {"field": "signed_on"}
    with pytest.raises(ValidationFailed) as refused:
        documents.edit(
            paper,
            {},
            actor=world.justice_handler,
            terms=[documents.TermDraft(text="赔偿五百元。", due_on=date.fromisoformat(typed))],
        )
    assert refused.value.code == "date_out_of_range"
    answer = client.patch(
        f"/api/v1/cases/{case.code}/documents/{paper.id}",
        headers=login(world.justice_handler),
        json={"version": paper.version, "content": {"signed_on": typed}},
    )
    assert answer.status_code == 422, answer.json
    assert answer.json["code"] == "date_out_of_range"
    assert documents.edit(paper, {"signed_on": "2026-12-06"}, actor=world.justice_handler)


def _compact(data: bytes) -> str:
    """The file's text without spaces, line ends or page footers (a long text runs on
    across a page's end)."""
    return re.sub(r"\s+", "", re.sub(r"[^\n]*· 第\d+页\n?", "", _pdf_text(data)))


@pytest.mark.parametrize("where", ["description", "note", "paper"])
def test_a_text_as_long_as_the_app_takes_is_printed_whole(world, where):
    """2,000 characters (limits.TEXT) in a description, a note or a paper's record: a
    table row must fit a page, so the file once failed to be made (a 500); the text is
    now printed in full after its table."""
    from server.casefile import pdf

    text = (FACTS * 60)[:2000]
    if where == "description":
        case = new_report(world, "D02", description=text)
    else:
        case = case_in("in_progress", world)
        if where == "note":
            workflow.apply(case, "note", actor=world.center, text=text)
        else:
            paper = documents.make(case, "session_record", actor=world.justice_handler)
            documents.edit(paper, {"record": text}, actor=world.justice_handler)
    assert re.sub(r"\s+", "", text) in _compact(pdf.build(case, viewer=world.center))


def test_the_file_keeps_every_round_of_a_reopened_case_and_what_each_step_decided(world):
    """Which department had it, its result and the reason for closing, the extension's
    new due time and the reporter's 不满意: all in the timeline of the file, so the first
    round of a reopened case is still on the record; and a file printed while it is open
    again says it is not the archive copy."""
    from server.casefile import pdf

    case = case_in("in_progress", world)  # with the justice office
    until = case.due_at + timedelta(days=10)
    workflow.apply(
        case,
        "request_extension",
        actor=world.justice_handler,
        until=until,
        reason="当事人外出。",
        parties_consent=True,
    )
    workflow.apply(case, "approve_extension", actor=world.center)
    workflow.apply(
        case,
        "resolve",
        actor=world.justice_handler,
        result_code="mediated",
        result_text="双方握手言和。",
    )
    workflow.apply(case, "verify", actor=world.center)
    workflow.apply(case, "record_visit", actor=world.worker1, outcome="gone", text="已消除。")
    workflow.apply(case, "close", actor=world.center, closing_reason="resolved")
    workflow.apply_as_reporter(case, "answer_follow_up", satisfaction="dissatisfied")
    workflow.apply(case, "reopen", actor=world.center, reason="复核后重新办理。")
    workflow.apply(case, "dispatch", actor=world.center, lead_department=world.committee1.id)
    text = _compact(pdf.build(case, viewer=world.center))
    day = clock.local(until)
    assert "主办部门：测试司法所" in text
    assert "办结结果：调解成功" in text
    assert "结案原因：已化解" in text
    assert "满意度：不满意" in text
    assert f"延期至：{day:%Y年%m月%d日}" in text
    cover = text[: text.index("卷内目录")]
    assert "未结案，非归档稿" in cover
    assert "保管期限—" in cover


def test_a_merged_report_is_in_the_file_and_the_print_page(client, world, signin):
    from server.casefile import pdf

    case = new_report(world, "D02")
    twin = new_report(world, "D02", description="王五也来反映东头排水沟被砖墙堵死。")
    workflow.apply(twin, "merge", actor=world.center, into=case.code)
    db.session.expire(case)  # as the next request reads it
    assert "王五也来反映东头排水沟被砖墙堵死" in _compact(pdf.build(case, viewer=world.center))
    signin(world.center)
    printed = client.get(f"/admin/cases/{case.code}/print").get_data(as_text=True)
    assert "王五也来反映东头排水沟被砖墙堵死" in printed
    assert "合并的报告" in printed


def test_the_contents_have_a_page_of_their_own_and_no_page_is_blank(world):
    from server.casefile import pdf

    pages = PdfReader(io.BytesIO(pdf.build(case_in("closed", world), viewer=world.center))).pages
    texts = [re.sub(r"\s+", "", p.extract_text()) for p in pages]
    assert "卷内目录" not in texts[0]
    assert "卷内目录" in texts[1]
    blank = [n for n, t in enumerate(texts, 1) if t.endswith(f"第{n}页") and len(t) < 40]
    assert blank == []


def test_tall_photos_and_scans_stay_on_their_page_under_their_caption(world):
    """A 1080x2400 chat screenshot and a 9:16 photo of a signed paper: fitted to the page,
    above its bottom margin, each on the page of its caption."""
    import pypdfium2
    import pypdfium2.raw as pdfium_c

    from server.casefile import pdf

    def jpeg(size, color):
        out = io.BytesIO()
        Image.new("RGB", size, color).save(out, "JPEG")
        return out.getvalue()

    screenshot = media.store_photos([jpeg((1080, 2400), "red")], uploader=world.center)
    case = new_report(world, "D02", photos=screenshot, actor=world.center, source="walk_in")
    workflow.apply(case, "accept", actor=world.center)
    workflow.apply(case, "dispatch", actor=world.center, lead_department=world.justice.id)
    workflow.apply(case, "sign_for", actor=world.justice_handler)
    paper = documents.make(case, "agreement", actor=world.justice_handler)
    scans.attach(paper, scans.prepare(jpeg((1080, 1920), "green")), actor=world.justice_handler)
    data = pdf.build(case, viewer=world.center)
    document = pypdfium2.PdfDocument(data)
    margin = 20 * 72 / 25.4
    images = []
    for number, page in enumerate(document, start=1):
        for image in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]):
            _left, bottom, _right, _top = image.get_bounds()
            images.append((number, bottom))
            assert bottom >= margin - 1, (number, bottom)
    assert len(images) == 2
    texts = [p.extract_text() for p in PdfReader(io.BytesIO(data)).pages]
    for number, _bottom in images:
        assert "照片1" in texts[number - 1] or "签字件" in texts[number - 1]


def test_the_print_page_names_the_system_for_its_chases(client, world, signin):
    case = case_in("in_progress", world)
    workflow.apply_as_system(case, "supervise", note="已超期，系统督办。")
    signin(world.center)
    html = client.get(f"/admin/cases/{case.code}/print").get_data(as_text=True)
    assert re.search(r"<td>督办</td><td>系统</td>", html)


def test_rare_characters_of_names_are_printed_and_none_is_dropped_in_silence(world):
    """𠮷 (Extension B) and 䶮 (Extension A) are not in the main font: they come from the
    fallback font (Debian's fonts-hanazono, which .ci/run and deploy/install.sh install),
    so 𠮷田 is not printed as 田. A character no font has (an emoji typed into a
    description) is printed as 〓 with its code, never dropped."""
    from pathlib import Path

    from flask import current_app

    from server.casefile import pdf

    fallback = current_app.config["CASEFILE_FALLBACK_FONT_PATHS"].split(",")
    assert all(Path(p).is_file() for p in fallback), "apt-get install fonts-hanazono"
    case = new_report(
        world,
        "D02",
        description="两家为水渠吵架🫠。",
        parties=[Party("𠮷田"), Party("李䶮", side="respondent"), Party("王堃")],
    )
    text = _compact(pdf.build(case, viewer=world.center))
    for name in ("𠮷田", "李䶮", "王堃"):
        assert name in text
    assert "两家为水渠吵架〓(U+1FAE0)。" in text


def test_a_signed_paper_scanned_as_a_pdf_is_in_the_file_page_by_page(world):
    """A scanner's two-page PDF of the signed agreement: each of its pages is in the
    file after the paper, under its caption, and the contents still give the true page
    of every section after it."""
    from fpdf import FPDF

    from server.casefile import pdf

    case = case_in("in_progress", world)
    paper = documents.make(case, "agreement", actor=world.justice_handler)
    scan = FPDF()
    for number in (1, 2):
        scan.add_page()
        scan.set_font("helvetica", size=20)
        scan.cell(0, 20, f"SIGNED SCAN PAGE {number} OF 7731")
    scans.attach(paper, scans.prepare(bytes(scan.output())), actor=world.justice_handler)
    data = pdf.build(case, viewer=world.center)
    pages = [re.sub(r"\s+", "", p.extract_text()) for p in PdfReader(io.BytesIO(data)).pages]
    first = next(n for n, t in enumerate(pages, 1) if "SIGNEDSCANPAGE1OF7731" in t)
    assert "第1/2页" in pages[first - 1]
    assert "SIGNEDSCANPAGE2OF7731" in pages[first]
    assert "第2/2页" in pages[first]
    timeline = next(
        n for n, t in enumerate(pages, 1) if t.startswith("办理过程") or "办理过程时间" in t
    )
    contents = pages[1]
    assert re.search(rf"办理过程（时间线）{timeline}", contents), (timeline, contents)


def test_a_file_holding_a_signed_agreement_is_kept_long(world):
    """A hazard-free dispute closed with no further action, but whose file holds a
    signed agreement: kept long, as the agreement is."""
    case = case_in("in_progress", world)
    paper = documents.make(case, "agreement", actor=world.justice_handler)
    documents.edit(paper, {"signed_on": "2026-12-01"}, actor=world.justice_handler)
    scans.attach(paper, scans.prepare(_jpeg()), actor=world.justice_handler)
    for action, actor, fields in (
        (
            "resolve",
            world.justice_handler,
            {"result_code": "no_action_needed", "result_text": "双方已自行和解。"},
        ),
        ("verify", world.center, {}),
        ("record_visit", world.worker1, {"outcome": "gone", "text": "已和解。"}),
        ("close", world.center, {"closing_reason": "no_further_action"}),
    ):
        workflow.apply(case, action, actor=actor, **fields)
    entry = archive.archive_of(case)
    assert (entry.retention, entry.note) == (Retention.LONG, "存有签字的调解协议书")


def test_the_print_page_shows_the_case_s_photos(client, world, signin):
    photos = media.store_photos([_jpeg(), _jpeg()], uploader=world.center)
    case = new_report(world, "D02", photos=photos, actor=world.center, source="walk_in")
    signin(world.center)
    html = client.get(f"/admin/cases/{case.code}/print").get_data(as_text=True)
    shown = re.findall(r'<img src="(/admin/media/[0-9a-f]+)"', html)
    assert len(shown) == 2
    assert client.get(shown[0]).mimetype == "image/jpeg"


def test_the_print_page_lists_the_agreement_s_terms_and_its_scans(client, world, signin):
    case = case_in("in_progress", world)
    paper = documents.make(case, "agreement", actor=world.justice_handler)
    documents.edit(
        paper,
        {},
        actor=world.justice_handler,
        terms=[documents.TermDraft(*TERMS[0][:2], date.fromisoformat(TERMS[0][2]))],
    )
    scans.attach(paper, scans.prepare(_jpeg()), actor=world.justice_handler)
    signin(world.center)
    html = client.get(f"/admin/cases/{case.code}/print").get_data(as_text=True)
    assert "协议条款" in html
    assert TERMS[0][0] in html
    assert "2026-12-20" in html
    assert "未回访" in html
    assert "已上传（照片）" in html
