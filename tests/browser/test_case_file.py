"""The case file in a real browser: a printed mediation agreement, and the case file's
cover as the PDF the app serves draws it (rendered with PDFium, the engine Chromium uses)."""

from __future__ import annotations

import io

import pypdfium2
from pypdf import PdfReader

from server.casefile import documents
from server.cases import workflow
from server.cases.operations import Party
from server.db import db
from server.models import CaseDocument
from tests.browser.conftest import OUTPUT, shot, sign_in
from tests.factories import PASSWORD, build_world
from tests.helpers import new_report

TERMS = [
    documents.TermDraft("李四于协议签订后十日内拆除堵沟的砖墙，恢复排水沟原状。", "自行拆除"),
    documents.TermDraft("张三一次性补偿李四砌墙材料费人民币800元。", "现金当面支付"),
]


def _closed_case_with_an_agreement(app) -> tuple[str, int]:
    with app.app_context():
        world = build_world()
        case = new_report(
            world,
            "D02",
            description="张三与李四两家因宅基地旁排水沟的走向争执，李四砌墙堵沟。",
            parties=[Party("张三"), Party("李四", side="respondent")],
        )
        workflow.apply(case, "accept", actor=world.center)
        workflow.apply(case, "dispatch", actor=world.center, lead_department=world.committee1.id)
        mediator = world.committee1_handler
        workflow.apply(case, "sign_for", actor=mediator)
        agreement = documents.make(case, "agreement", actor=mediator)
        documents.edit(agreement, {}, actor=mediator, terms=TERMS)
        workflow.apply(
            case, "resolve", actor=mediator, result_code="mediated", result_text="达成协议。"
        )
        workflow.apply(case, "verify", actor=world.center)
        workflow.apply(
            case,
            "record_visit",
            actor=world.worker1,
            outcome="kept",
            text="已履行。",
            terms={str(t.id): True for t in agreement.terms},
        )
        workflow.apply(case, "close", actor=world.center, closing_reason="resolved")
        ids = case.code, agreement.id
        db.session.commit()
        db.session.remove()
    return ids


def test_a_printed_agreement_and_the_case_files_cover(desk, live, fresh_app):
    code, agreement_id = _closed_case_with_an_agreement(fresh_app)
    page = desk()
    sign_in(page, live, "t_center")
    page.goto(f"{live}/admin/cases/{code}")
    link = page.locator("a.case-file-pdf")
    assert "大档字第1号" in link.inner_text()

    page.goto(f"{live}/admin/cases/{code}/documents/{agreement_id}/print")
    page.emulate_media(media="print")
    assert page.get_by_role("heading", name="人民调解协议书").is_visible()
    shot(page, "casefile-1-agreement-printed")
    printed = page.pdf(prefer_css_page_size=True)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "casefile-1-agreement-printed.pdf").write_bytes(printed)
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(printed)).pages)
    text = "".join(text.split())
    assert "张三一次性补偿李四砌墙材料费人民币800元" in text
    assert "人民调解委员会（盖章）" in text

    # The case file, fetched as the signed-in center fetches it from the link.
    answer = page.request.get(f"{live}/admin/cases/{code}/case-file.pdf")
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/pdf"
    data = answer.body()
    (OUTPUT / "casefile-2-case-file.pdf").write_bytes(data)
    document = pypdfium2.PdfDocument(data)
    cover = document[0].render(scale=2).to_pil()
    cover.save(OUTPUT / "casefile-2-cover.png")
    document.close()
    assert cover.size[0] > 1000
    cover_text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert "〔" in cover_text
    assert "长期" in cover_text
    with fresh_app.app_context():
        assert db.session.get(CaseDocument, agreement_id).terms[0].kept is True
        db.session.remove()


def test_a_mediator_writes_the_agreement_on_the_phone(phone, live, fresh_app):
    with fresh_app.app_context():
        world = build_world()
        case = new_report(
            world,
            "D02",
            description="两户为排水沟争执。",
            parties=[Party("张三"), Party("李四", side="respondent")],
        )
        workflow.apply(case, "accept", actor=world.center)
        workflow.apply(case, "dispatch", actor=world.center, lead_department=world.committee1.id)
        workflow.apply(case, "sign_for", actor=world.committee1_handler)
        code = case.code
        db.session.commit()
        db.session.remove()
    page = phone.page
    page.goto(f"{live}/m/")
    page.fill("#username", "t_cw1")
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()
    page.wait_for_selector("h1:has-text('我的待办')")
    page.goto(f"{live}/m/#/case/{code}")
    page.wait_for_selector("#paper-kind")
    page.select_option("#paper-kind", value="agreement")
    page.get_by_role("button", name="按模板制作").click()
    page.locator("a[data-paper=agreement]").click()
    form = page.locator("form.paper-form")
    form.wait_for()
    assert page.input_value("#p-applicants") == "张三"
    form.locator(".term input").nth(0).fill("李四十日内拆除砖墙。")
    form.locator(".term input").nth(1).fill("自行拆除")
    form.get_by_role("button", name="保存文书").click()
    page.wait_for_selector(".paper-editor .notice:has-text('文书已保存')")
    phone.screenshot("casefile-3-workbench-agreement")
    with fresh_app.app_context():
        paper = db.session.scalars(db.select(CaseDocument)).one()
        assert [t.text for t in paper.terms] == ["李四十日内拆除砖墙。"]
        assert paper.number.endswith("调字第1号")
        db.session.remove()


def test_a_paper_tapped_again_after_a_lost_answer_is_made_once(phone, live, fresh_app):
    """按模板制作 on a rural network: the first tap makes the paper but its answer is lost;
    the second meets the first still being worked on (409 request_in_flight); the third,
    as the page asks, must find the first paper, not number a second one."""
    import json

    from tests.factories import PASSWORD, build_world
    from tests.helpers import new_report

    with fresh_app.app_context():
        world = build_world()
        case = new_report(
            world,
            "D02",
            description="两户为排水沟争执。",
            parties=[Party("张三"), Party("李四", side="respondent")],
        )
        workflow.apply(case, "accept", actor=world.center)
        workflow.apply(case, "dispatch", actor=world.center, lead_department=world.committee1.id)
        workflow.apply(case, "sign_for", actor=world.committee1_handler)
        code, username = case.code, world.committee1_handler.username
        db.session.commit()
        db.session.remove()
    page = phone.page
    page.goto(f"{live}/m/")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()
    page.wait_for_selector("h1:has-text('我的待办')")
    page.goto(f"{live}/m/#/case/{code}")
    page.wait_for_selector("#paper-kind")
    page.select_option("#paper-kind", value="session_record")
    keys = []

    def rural_network(route):
        if route.request.method != "POST":
            return route.continue_()
        keys.append(route.request.headers.get("idempotency-key"))
        if len(keys) == 1:  # the paper is made; its answer is lost on the way
            route.fetch()
            phone.expect_failures = True
            return route.abort("connectionreset")
        if len(keys) == 2:  # the first still being worked on (a slow server)
            return route.fulfill(
                status=409,
                content_type="application/json",
                body=json.dumps(
                    {"code": "request_in_flight", "message": "同一请求正在处理中，请稍后重试。"}
                ),
            )
        return route.continue_()

    page.route("**/api/v1/cases/*/documents", rural_network)
    make = page.get_by_role("button", name="按模板制作")
    for _ in range(3):
        make.click()
        page.wait_for_function("() => !document.querySelector('.make-paper button').disabled")
        page.wait_for_timeout(300)
    phone.expect_failures = False
    page.wait_for_selector("a[data-paper='session_record']")
    with fresh_app.app_context():
        made = [d.number for d in db.session.scalars(db.select(CaseDocument))]
        db.session.remove()
    assert len(keys) == 3
    assert len(set(keys)) == 1
    assert len(made) == 1, made
