"""台账 from the web: made in the background with progress, named in Chinese with their
period, streamed once, audited; only the center and leaders may take one."""

from __future__ import annotations

import io
import time
from pathlib import Path
from urllib.parse import unquote

from openpyxl import load_workbook
from sqlalchemy import select

from server.db import db
from server.infra import clock
from server.models import AuditEntry
from tests.admin.conftest import csrf_from
from tests.factories import PASSWORD, build_world
from tests.helpers import new_report


def _signed_in(app, username):
    client = app.test_client()
    token = csrf_from(client.get("/admin/login").get_data(as_text=True))
    client.post(
        "/admin/login", data={"csrf_token": token, "username": username, "password": PASSWORD}
    )
    return client, csrf_from(client.get("/admin/ledgers").get_data(as_text=True))


def _town(app, reports=3):
    with app.app_context():
        world = build_world()
        for _ in range(reports):
            new_report(world, "D02")
        new_report(world, "S04", parties=[])
        db.session.commit()
        month = clock.local(clock.now()).strftime("%Y-%m")
        label = clock.local(clock.now()).strftime("%Y年%m月").replace("年0", "年")
        db.session.remove()
    return month, label


def _wait(client, url):
    for _ in range(200):
        status = client.get(url).json
        if status["state"] != "running":
            return status
        time.sleep(0.05)
    raise AssertionError("the export never finished")


def test_a_ledger_is_made_with_progress_and_downloaded_once(fresh_app):
    month, label = _town(fresh_app)
    client, token = _signed_in(fresh_app, "t_center")
    page = client.get(f"/admin/ledgers?kind=month&value={month}").get_data(as_text=True)
    assert f"矛盾纠纷台账_{label}.xlsx" in page
    started = client.post(
        "/admin/ledgers",
        data={"csrf_token": token, "ledger": "disputes", "kind": "month", "value": month},
    )
    assert started.status_code == 303
    progress_page = client.get(started.location)
    assert "<progress" in progress_page.get_data(as_text=True)
    status = _wait(client, started.location + "/status")
    assert status == {"state": "done", "done": 3, "total": 3, "percent": 100}

    answer = client.get(started.location + "/file")
    assert answer.status_code == 200
    disposition = answer.headers["Content-Disposition"]
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == f"矛盾纠纷台账_{label}.xlsx"
    data = answer.data
    answer.close()
    sheet = load_workbook(io.BytesIO(data), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("序号", "案件编号", "登记日期")
    assert len(rows) == 1 + 3  # the heading and the month's three disputes, no hazard
    # Once: the file is gone from the server, and the download is on the audit log.
    assert client.get(started.location + "/file").status_code == 404
    export = Path(fresh_app.instance_path) / "exports" / started.location.rsplit("/", 1)[1]
    assert not export.with_suffix(".xlsx").exists()
    with fresh_app.app_context():
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "ledger.exported"))
        assert entry.object_id == "disputes"
        assert entry.detail["via"] == "web"
        assert entry.detail["rows"] == 3


def test_an_export_is_its_askers_alone(fresh_app):
    month, _label = _town(fresh_app, reports=1)
    center, token = _signed_in(fresh_app, "t_center")
    started = center.post(
        "/admin/ledgers",
        data={"csrf_token": token, "ledger": "cases", "kind": "month", "value": month},
    )
    _wait(center, started.location + "/status")
    leader, _ = _signed_in(fresh_app, "t_leader")
    assert leader.get(started.location + "/file").status_code == 404
    assert leader.get(started.location + "/status").status_code == 404
    taken = center.get(started.location + "/file")
    assert taken.status_code == 200
    taken.close()


def test_the_duties_take_no_ledger_and_the_report_has_a_chinese_name(fresh_app):
    month, label = _town(fresh_app, reports=1)
    admin, _ = _signed_in(fresh_app, "t_admin")
    assert admin.get("/admin/ledgers").status_code == 403
    leader, _ = _signed_in(fresh_app, "t_leader")
    report = leader.get(f"/admin/report.xlsx?kind=month&value={month}")
    assert report.status_code == 200
    assert f"统计报告_{label}.xlsx" in unquote(report.headers["Content-Disposition"])


def test_a_control_character_in_a_party_s_name_does_not_sink_the_ledger(world):
    """Found by review: openpyxl refused the whole ledger over one control character."""
    from server.cases.operations import Party
    from server.figures import ledgers
    from server.figures.periods import month

    case = new_report(world, "D02", parties=[Party("张三\x01"), Party("李四", side="respondent")])
    db.session.flush()
    local = clock.local(case.created_at)
    out = io.BytesIO()
    assert ledgers.write("disputes", month(local.year, local.month), out) == 1
    rows = list(load_workbook(io.BytesIO(out.getvalue())).active.iter_rows(values_only=True))
    assert rows[1][5] == "张三"
