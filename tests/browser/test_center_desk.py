"""The center's desk in a real browser: a walk-in registered and its receipt printed."""

from __future__ import annotations

import io

from pypdf import PdfReader

from server.cases import tracking
from server.db import db
from server.models import Case
from tests.browser.conftest import OUTPUT, shot, sign_in
from tests.factories import build_world


def test_a_walk_in_is_registered_and_its_receipt_printed(desk, live, fresh_app):
    with fresh_app.app_context():
        build_world()
        db.session.commit()
        db.session.remove()
    page = desk()
    sign_in(page, live, "t_center")
    page.get_by_role("link", name="来访来电登记").click()
    page.select_option("select[name=village]", label="东村")
    page.select_option("select[name=category]", value="D02")
    page.fill("textarea[name=description]", "邻居扩建占了排水沟，协商不成，来中心求助。")
    page.fill("input[name=place_text]", "东村三组")
    page.fill("input[name=party_applicant_name]", "赵大")
    page.fill("input[name=party_respondent_name]", "钱二")
    page.fill("input[name=name]", "赵大")
    page.fill("input[name=phone]", "13900001111")
    page.get_by_role("button", name="登记并出回执").click()
    page.wait_for_selector("#receipt")
    secret = page.locator("#tracking-code").inner_text().strip()
    with fresh_app.app_context():
        case = tracking.find(secret)
        assert case is not None
        assert case.source.value == "walk_in"
        code = case.code
        db.session.remove()
    # The print button is shown by the page's script (it needs one to print).
    page.get_by_role("button", name="打印回执").wait_for(state="visible")
    shot(page, "admin-desk-1-receipt")

    # On paper: the receipt alone, without the admin's bar or buttons.
    page.emulate_media(media="print")
    assert not page.locator("header.bar").is_visible()
    assert not page.get_by_role("button", name="打印回执").is_visible()
    assert page.locator("#receipt").is_visible()
    pdf = page.pdf(format="A4")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "admin-desk-1-receipt.pdf").write_bytes(pdf)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    assert code in text
    assert secret.replace(" ", "") in text.replace(" ", "")
    # Nobody but the center sees who came: the receipt does not name the informant.
    assert "13900001111" not in text
    with fresh_app.app_context():
        assert db.session.query(Case).count() == 1


def test_a_ledger_is_downloaded_from_the_admin_with_the_period_s_rows(desk, live, fresh_app):
    from openpyxl import load_workbook

    from server.infra import clock
    from tests.helpers import new_report

    with fresh_app.app_context():
        world = build_world()
        for _ in range(4):
            new_report(world, "D02")
        new_report(world, "S04", parties=[])  # a hazard: not in the disputes ledger
        db.session.commit()
        label = f"{clock.local(clock.now()).year}年{clock.local(clock.now()).month}月"
        db.session.remove()
    page = desk()
    sign_in(page, live, "t_leader")
    page.get_by_role("link", name="台账").click()
    page.locator("select[name=kind]").select_option("month")
    page.fill("input[name=value]", label)
    page.get_by_role("button", name="选定周期").click()
    page.locator("form[data-ledger=disputes] button").click()
    link = page.locator("#export-file")
    link.wait_for(state="visible")
    assert page.locator("#export-progress").evaluate("bar => bar.value") == 100
    shot(page, "admin-desk-2-ledger")
    with page.expect_download() as caught:
        link.click()
    download = caught.value
    assert download.suggested_filename == f"矛盾纠纷台账_{label}.xlsx"
    path = OUTPUT / download.suggested_filename
    download.save_as(path)
    book = load_workbook(path, read_only=True)
    rows = list(book.active.iter_rows(values_only=True))
    book.close()  # a read-only workbook keeps its file open until closed
    assert rows[0][1] == "案件编号"
    assert len(rows) == 5  # the heading and the month's four disputes
