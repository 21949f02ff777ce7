"""A real town from nothing: villages, grids, departments and accounts, in the admin and
from one Excel file (server/organisation/town_file.py)."""

from __future__ import annotations

import io
import re
import uuid

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from server.db import db
from server.models import AuditEntry, Case, Department, Grid, Town, User, Village
from server.organisation import town_file

VILLAGES = [("V01", "东村"), ("V02", "西村"), ("V03", "南村")]
GRIDS = [
    ("V01-G1", "东村一网格", "V01"),
    ("V01-G2", "东村二网格", "V01"),
    ("V02-G1", "西村一网格", "V02"),
    ("V03-G1", "南村一网格", "V03"),
    ("V03-G2", "南村二网格", "V03"),
]
DEPARTMENTS = [
    ("东村调委会", "村调委会", "否", "V01", "", "是"),
    ("西村调委会", "村调委会", "否", "V02", "", "是"),
    ("南村调委会", "村调委会", "否", "V03", "", "是"),
    ("新镇司法所", "司法所", "是", "", "0311-1234567", "是"),
    ("新镇派出所", "派出所", "是", "", "110", "是"),
    ("法律顾问（东片）", "法律顾问", "否", "V01、V02,V03", "", "是"),
]
USERS = [
    ("center1", "值班员甲", "调处中心", "", ""),
    ("leader1", "镇长", "领导", "", ""),
    ("med1", "东村调解员", "处置人员", "东村调委会", ""),
    ("med2", "西村调解员", "处置人员", "西村调委会", ""),
    ("justice1", "司法所所长", "处置人员", "新镇司法所", ""),
    ("police1", "民警甲", "处置人员", "新镇派出所", ""),
    ("lawyer1", "王律师", "处置人员", "法律顾问（东片）", ""),
    ("grid1", "东村网格员", "网格员", "", "V01-G1、V01-G2"),
    ("grid2", "西村网格员", "网格员", "", "V02-G1"),
    ("grid3", "南村网格员", "网格员", "", "V03-G1，V03-G2"),
]


def filled(**changes) -> bytes:
    """The downloaded template, filled in as a clerk would (the example rows left in)."""
    book = load_workbook(io.BytesIO(town_file.template()))
    rows = {
        "镇": [("新镇", "0311-12345")],
        "村": [(code, name, "是") for code, name in VILLAGES],
        "网格": [(*grid, "是") for grid in GRIDS],
        "部门": DEPARTMENTS,
        "账号": [(u, n, r, d, g, "") for u, n, r, d, g in USERS],
    } | changes
    for sheet, values in rows.items():
        for row in values:
            book[sheet].append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def run_import(app, data: bytes, tmp_path):
    path = tmp_path / f"{uuid.uuid4().hex}.xlsx"
    path.write_bytes(data)
    with app.app_context():
        return app.test_cli_runner().invoke(args=["import", str(path)])


def counts(app) -> dict[str, int]:
    with app.app_context():
        return {
            model.__name__: db.session.scalar(select(func.count()).select_from(model))
            for model in (Village, Grid, Department, User)
        }


def sign_in_first_time(client, username: str, password: str) -> dict:
    """A new account's first sign-in: the one-time password is changed before anything."""
    refused = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert refused.json["code"] == "password_change_required"
    chosen = client.post(
        "/api/v1/auth/password",
        json={"username": username, "password": password, "new_password": "Mine@Town2026"},
    )
    assert chosen.status_code == 200, chosen.json
    return {"Authorization": f"Bearer {chosen.json['token']}"}


def act(client, headers, code, action, **fields):
    case = client.get(f"/api/v1/cases/{code}", headers=headers).json
    answer = client.post(
        f"/api/v1/cases/{code}/actions",
        headers=headers | {"Idempotency-Key": str(uuid.uuid4())},
        json={"action": action, "version": case["version"], **fields},
    )
    assert answer.status_code == 200, answer.json
    return answer.json


def test_one_file_makes_a_working_town_from_an_empty_database(fresh_app, tmp_path):
    assert counts(fresh_app) == {"Village": 0, "Grid": 0, "Department": 0, "User": 0}
    result = run_import(fresh_app, filled(), tmp_path)
    assert result.exit_code == 0, result.output
    assert counts(fresh_app) == {"Village": 3, "Grid": 5, "Department": 6, "User": 10}
    passwords = dict(re.findall(r"^\s+(\w+)\t.*\t(\S+)$", result.output, re.M))
    assert set(passwords) == {u[0] for u in USERS}
    assert len(set(passwords.values())) == 10  # one each, never shared

    with fresh_app.app_context():
        village = db.session.scalar(select(Village).where(Village.code == "V01"))
        token = village.qr_token
        lawyer = db.session.scalar(select(User).where(User.username == "lawyer1"))
        assert {v.code for v in lawyer.department.villages} == {"V01", "V02", "V03"}
        grid_worker = db.session.scalar(select(User).where(User.username == "grid3"))
        assert {g.code for g in grid_worker.grids} == {"V03-G1", "V03-G2"}
        committee = db.session.scalar(select(Department).where(Department.name == "东村调委会"))
        committee_id = committee.id
        assert db.session.scalar(select(func.count()).select_from(AuditEntry)) >= 24

    # The new village's QR code takes a villager's report ...
    client = fresh_app.test_client()
    page = client.get(f"/q/{token}")
    assert page.status_code == 200
    assert "东村" in page.get_data(as_text=True)
    filed = client.post(
        f"/q/{token}",
        data={
            "kind": "D02",
            "form_key": str(uuid.uuid4()),
            "description": "两家为宅基地边界吵了起来。",
            "place_text": "村东头",
            "anonymous": "yes",
            "website": "",
        },
        content_type="multipart/form-data",
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
    )
    assert filed.status_code == 200, filed.get_data(as_text=True)
    with fresh_app.app_context():
        code = db.session.scalar(select(Case.code))

    # ... the new center dispatches it to the new village committee, whose mediator
    # signs for it.
    center = sign_in_first_time(client, "center1", passwords["center1"])
    act(client, center, code, "accept")
    act(client, center, code, "dispatch", lead_department=committee_id, co_departments=[])
    mediator = sign_in_first_time(client, "med1", passwords["med1"])
    mine = client.get("/api/v1/cases", headers=mediator).json
    assert code in [c["code"] for c in mine["items"]]
    assert act(client, mediator, code, "sign_for")["status"] == "in_progress"
    # The other village's mediator does not see it.
    other = sign_in_first_time(client, "med2", passwords["med2"])
    assert client.get(f"/api/v1/cases/{code}", headers=other).status_code == 404


def test_a_file_with_one_bad_row_writes_nothing_and_names_it(fresh_app, tmp_path):
    bad_grids = [(*grid, "是") for grid in GRIDS[:3]] + [("V09-G1", "北村一网格", "V09", "是")]
    result = run_import(fresh_app, filled(网格=bad_grids), tmp_path)
    assert result.exit_code != 0
    # The template's header is row 1 and its example row 2: the fourth grid is row 6.
    assert "「网格」第6行「所属村编号」：找不到村“V09”。" in result.output
    assert "未写入任何数据" in result.output
    # The accounts that named the missing grid's neighbours are fine; nothing is written.
    assert counts(fresh_app) == {"Village": 0, "Grid": 0, "Department": 0, "User": 0}


def test_every_fault_of_a_file_is_named_at_once(fresh_app, tmp_path):
    users = [
        ("center1", "值班员甲", "调处中心", "", ""),
        ("med9", "无部门调解员", "处置人员", "", ""),
        ("grid9", "网格员", "网格员", "", "V07-G1"),
        ("center1", "重复", "领导", "", ""),
        ("boss", "老板", "董事长", "", ""),
    ]
    result = run_import(
        fresh_app, filled(账号=[(*u, "") for u in users], 村=[("V01", "", "是")]), tmp_path
    )
    assert result.exit_code != 0
    for fault in (
        "「村」第3行「村名称」：必填。",
        "「账号」第4行「所属部门（处置人员填写）」：处置人员须填写所属部门。",
        "「账号」第5行「网格编号（网格员填写，用、分隔）」：找不到网格“V07-G1”。",
        "「账号」第6行「用户名」：与第3行重复。",
        "「账号」第7行「角色」：“董事长”不是可选值",
    ):
        assert fault in result.output
    assert counts(fresh_app)["User"] == 0


def test_importing_the_same_file_again_changes_nothing_twice(fresh_app, tmp_path):
    assert run_import(fresh_app, filled(), tmp_path).exit_code == 0
    again = run_import(fresh_app, filled(村=[("V01", "东村（新）", "是"), *VILLAGES[1:]]), tmp_path)
    assert again.exit_code == 0, again.output
    assert "村：新建 0，更新 3" in again.output
    assert "一次性密码" not in again.output
    assert counts(fresh_app) == {"Village": 3, "Grid": 5, "Department": 6, "User": 10}
    with fresh_app.app_context():
        assert db.session.scalar(select(Village.name).where(Village.code == "V01")) == "东村（新）"


def test_the_admin_imports_places_and_the_security_admin_accounts(client, world, signin):
    token = signin(world.admin)
    template = client.get("/admin/setup/template.xlsx")
    assert template.status_code == 200
    assert "filename*=UTF-8''" in template.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(template.data))
    assert book.sheetnames[:5] == ["镇", "村", "网格", "部门", "账号"]
    assert [c.value for c in book["网格"][1]] == ["网格编号*", "网格名称*", "所属村编号*", "启用"]

    data = filled(
        镇=[],
        村=[("N01", "北村", "是")],
        网格=[("N01-G1", "北村一网格", "N01", "是")],
        部门=[("北村调委会", "村调委会", "否", "N01", "", "是")],
        账号=[("grid_n1", "北村网格员", "网格员", "", "N01-G1", "")],
    )
    answer = client.post(
        "/admin/setup",
        data={"csrf_token": token, "file": (io.BytesIO(data), "town.xlsx")},
        content_type="multipart/form-data",
    )
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200, page
    assert "账号" in page
    assert "属于另一职责" in page
    assert db.session.scalar(select(Village).where(Village.code == "N01")) is not None
    assert db.session.scalar(select(User).where(User.username == "grid_n1")) is None

    token = signin(world.security)
    answer = client.post(
        "/admin/setup",
        data={"csrf_token": token, "file": (io.BytesIO(data), "town.xlsx")},
        content_type="multipart/form-data",
    )
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200, page
    password = re.search(r"<code>([^<]+)</code>", page).group(1)
    user = db.session.scalar(select(User).where(User.username == "grid_n1"))
    assert user.must_change_password
    assert [g.code for g in user.grids] == ["N01-G1"]
    from server.trust import passwords

    assert passwords.verify_password(user.password_hash, password)
    assert password not in str(db.session.scalars(select(AuditEntry.detail)).all())


def test_a_refused_upload_says_where_in_chinese_and_writes_nothing(client, world, signin):
    token = signin(world.admin)
    data = filled(镇=[], 村=[("N01", "北村", "是")], 网格=[("N01-G1", "北村一网格", "N09", "是")])
    answer = client.post(
        "/admin/setup",
        data={"csrf_token": token, "file": (io.BytesIO(data), "town.xlsx")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert "未导入" in page
    assert "找不到村“N09”" in page
    assert "<td>3</td>" in page
    assert db.session.scalar(select(Village).where(Village.code == "N01")) is None
    garbage = client.post(
        "/admin/setup",
        data={"csrf_token": token, "file": (io.BytesIO(b"not a workbook"), "town.xlsx")},
        content_type="multipart/form-data",
    )
    assert garbage.status_code == 422
    assert "无法读取" in garbage.get_data(as_text=True)


def test_villages_and_grids_are_made_changed_and_retired_in_the_admin(client, world, signin):
    token = signin(world.admin)
    made = client.post(
        "/admin/villages",
        data={"csrf_token": token, "code": "V77", "name": "新村", "active": "yes"},
    )
    assert made.status_code == 302
    village = db.session.scalar(select(Village).where(Village.code == "V77"))
    client.post(
        "/admin/grids",
        data={
            "csrf_token": token,
            "code": "V77-G1",
            "name": "新村一网格",
            "village": village.id,
            "active": "yes",
        },
    )
    grid = db.session.scalar(select(Grid).where(Grid.code == "V77-G1"))
    assert grid.village_id == village.id
    # A grid still looked after by a grid worker is not retired under them.
    world.worker1.grids.append(grid)
    db.session.flush()
    client.post(
        f"/admin/grids/{grid.id}",
        data={"csrf_token": token, "code": "V77-G1", "name": "新村一网格", "village": village.id},
    )
    db.session.refresh(grid)
    assert grid.active
    world.worker1.grids.remove(grid)
    db.session.flush()
    client.post(
        f"/admin/grids/{grid.id}",
        data={"csrf_token": token, "code": "V77-G1", "name": "新村一网格", "village": village.id},
    )
    db.session.refresh(grid)
    assert not grid.active
    # A retired village leaves the posters, and its QR code says so.
    token_of = village.qr_token
    client.post(
        f"/admin/villages/{village.id}", data={"csrf_token": token, "code": "V77", "name": "新村"}
    )
    db.session.refresh(village)
    assert not village.active
    assert "新村" not in client.get("/admin/villages/posters").get_data(as_text=True)
    closed = client.get(f"/q/{token_of}")
    assert closed.status_code == 410
    assert "已停用" in closed.get_data(as_text=True)
    actions = db.session.scalars(
        select(AuditEntry.action).where(AuditEntry.action.in_(["village.save", "grid.save"]))
    ).all()
    assert actions.count("village.save") == 2
    assert actions.count("grid.save") == 2


def test_a_village_is_retired_after_its_grids_and_its_past_duty_still_counts(client, world, signin):
    """Found by review: a village retired under its grids left them uneditable and its
    grid worker screening a closed village; and the months before a village was merged
    away must still count it, those after not."""
    from datetime import UTC, date, datetime, timedelta

    from server.figures import statistics
    from server.figures.periods import Period
    from server.infra import clock
    from server.organisation import places

    refused = client.post(
        f"/admin/villages/{world.v2.id}",
        data={"csrf_token": signin(world.admin), "code": world.v2.code, "name": world.v2.name},
    )
    assert refused.status_code == 302
    db.session.refresh(world.v2)
    assert world.v2.active  # its grid is still in use
    retired_at = datetime(2026, 6, 15, 2, tzinfo=UTC)
    with clock.frozen_at(retired_at):
        world.worker2.grids = []
        db.session.flush()
        places.save_grid(
            actor=world.admin,
            grid=world.g2,
            code=world.g2.code,
            name=world.g2.name,
            village_id=world.v2.id,
            active=False,
        )
        places.save_village(
            actor=world.admin,
            village=world.v2,
            code=world.v2.code,
            name=world.v2.name,
            active=False,
        )
    assert world.v2.deactivated_at == retired_at

    def duty(first: date) -> list[str]:
        period = Period(first, first + timedelta(days=28), "四周")
        return statistics.compute(period, required_screenings=1).villages_missed

    assert world.v2.name in duty(date(2026, 6, 1))  # served when June began
    assert world.v2.name not in duty(date(2026, 7, 1))  # merged away before July


def test_a_retired_grid_takes_no_report_and_leaves_the_pickers(client, world, login):
    from server.cases.operations import ReportDraft, submit_report
    from server.infra.errors import ValidationFailed
    from tests.factories import category

    extra = Grid(village=world.v1, code="T-OLD", name="旧网格", active=False)
    db.session.add(extra)
    db.session.flush()
    with pytest.raises(ValidationFailed):
        submit_report(
            ReportDraft(
                village=world.v1,
                grid=extra.id,
                category=category("D02"),
                description="旧网格里的事。",
                source="grid_worker",
            ),
            actor=world.worker1,
        )
    villages = client.get("/api/v1/villages", headers=login(world.worker1)).json
    grids = [g["code"] for v in villages for g in v["grids"]]
    assert "T-OLD" not in grids
    assert world.g1.code in grids


def test_an_import_that_retires_a_grid_still_held_names_the_row(fresh_app, tmp_path):
    assert run_import(fresh_app, filled(), tmp_path).exit_code == 0
    grids = [(*grid, "是") for grid in GRIDS[:-1]] + [(*GRIDS[-1], "否")]
    again = run_import(fresh_app, filled(网格=grids), tmp_path)
    assert again.exit_code != 0
    assert "「网格」第7行「启用」：网格仍由南村网格员负责" in again.output


def test_a_cell_the_form_would_refuse_is_named_by_row_and_column(fresh_app, tmp_path):
    """The checks of the admin's forms run on each filled cell before anything is written
    (a village name over 64 characters, a code in Chinese, a phone of 40 digits)."""
    result = run_import(
        fresh_app,
        filled(
            村=[("V01", "东" * 65, "是"), ("村二", "西村", "是"), *VILLAGES[2:]],
            部门=[(*DEPARTMENTS[0][:4], "1" * 40, "是"), *DEPARTMENTS[1:]],
        ),
        tmp_path,
    )
    assert result.exit_code != 0
    assert "「村」第3行「村名称」：请填写村名（最多64字）。" in result.output
    assert "「村」第4行「村编号」：村编号须为16位以内的字母、数字或连字符。" in result.output
    assert "「部门」第3行「电话」：电话最多32位。" in result.output
    assert counts(fresh_app)["Village"] == 0


def test_a_town_file_names_the_character_of_its_numbers_and_an_older_one_needs_none(
    fresh_app, tmp_path
):
    """文号简称 sets the character the town's papers carry; a file made from a template of
    before that column reads it as empty (the town's name's first) and is not refused."""
    from server.casefile import numbering

    result = run_import(fresh_app, filled(镇=[("新镇", "0311-12345", "新丰")]), tmp_path)
    assert result.exit_code == 0, result.output
    with fresh_app.app_context():
        town = db.session.scalar(select(Town))
        assert (town.document_prefix, numbering.prefix(town)) == ("新丰", "新丰")
    # The older template: the town sheet without the column.
    book = load_workbook(io.BytesIO(filled(镇=[("新镇", "0311-12345", "")])))
    book["镇"].delete_cols(3)
    out = io.BytesIO()
    book.save(out)
    result = run_import(fresh_app, out.getvalue(), tmp_path)
    assert result.exit_code == 0, result.output
    with fresh_app.app_context():
        town = db.session.scalar(select(Town))
        assert town.document_prefix is None
        assert numbering.display("agreement", 2026, 7, town) == "〔2026〕新调字第7号"


def test_the_operator_s_file_of_a_second_town_sets_up_that_town(fresh_app, tmp_path):
    """A district's operator imports each town's file in turn: the second, naming its own
    town, makes that town with its villages, departments (of the same names as the
    first's: names are a town's own) and accounts, and leaves the first town as it was.
    (Every file used to write the first town's row and put its accounts there.)"""
    assert run_import(fresh_app, filled(), tmp_path).exit_code == 0
    second = filled(
        镇=[("二镇", "0311-22222", "")],
        村=[("V11", "北村", "是")],
        网格=[("V11-G1", "北村一网格", "V11", "是")],
        部门=[
            ("北村调委会", "村调委会", "否", "V11", "", "是"),
            ("新镇司法所", "司法所", "是", "", "", "是"),
        ],
        账号=[
            ("center2", "二镇值班员", "调处中心", "", "", ""),
            ("justice2", "二镇司法所所长", "处置人员", "新镇司法所", "", ""),
            ("grid11", "北村网格员", "网格员", "", "V11-G1", ""),
        ],
    )
    result = run_import(fresh_app, second, tmp_path)
    assert result.exit_code == 0, result.output
    with fresh_app.app_context():
        first, other = db.session.scalars(select(Town).order_by(Town.id)).all()
        assert (first.name, first.hotline, other.name) == ("新镇", "0311-12345", "二镇")
        village = db.session.scalar(select(Village).where(Village.code == "V11"))
        assert village.town_id == other.id
        offices = db.session.scalars(select(Department).where(Department.name == "新镇司法所"))
        assert sorted(d.town_id for d in offices) == [first.id, other.id]
        people = {u.username: u for u in db.session.scalars(select(User))}
        assert {people[n].town_id for n in ("center2", "justice2", "grid11")} == {other.id}
        assert people["justice2"].department.town_id == other.id
        assert people["center1"].town_id == first.id


def test_a_district_s_files_keep_to_the_town_they_name(fresh_app, tmp_path):
    """Village and grid codes are the deployment's: a file for one town that lists
    another town's village or grid is refused, naming the row, and changes nothing (it
    used to rename the other town's village and move its grids). The district's security
    admin's accounts go to the town the file names, which must exist; the district's
    people must name one; a town's admin cannot give their town another town's name."""
    import pytest

    from server.organisation.town_file import ImportRefused, import_town

    assert run_import(fresh_app, filled(), tmp_path).exit_code == 0
    second = filled(
        镇=[("二镇", "", "")],
        村=[("V11", "北村", "是"), ("V01", "改名村", "是")],
        网格=[("V01-G1", "挪走的网格", "V11", "是")],
        部门=[],
        账号=[],
    )
    result = run_import(fresh_app, second, tmp_path)
    assert result.exit_code != 0
    assert "村编号“V01”已是其他镇的村" in result.output
    assert "网格编号“V01-G1”已是其他镇的网格" in result.output
    with fresh_app.app_context():
        assert db.session.scalar(select(Village.name).where(Village.code == "V01")) == "东村"
        assert db.session.scalar(select(Town.id).where(Town.name == "二镇")) is None
    ok = filled(镇=[("二镇", "", "")], 村=[("V11", "北村", "是")], 网格=[], 部门=[], 账号=[])
    assert run_import(fresh_app, ok, tmp_path).exit_code == 0
    # Nor does it take another town's account (moving one is the district keeper's).
    moving = filled(
        镇=[("二镇", "", "")],
        村=[],
        网格=[],
        部门=[("北村调委会", "村调委会", "否", "V11", "", "是")],
        账号=[("med1", "东村调解员", "处置人员", "北村调委会", "", "")],
    )
    result = run_import(fresh_app, moving, tmp_path)
    assert result.exit_code != 0
    assert "账号“med1”已是其他镇或区里的账号" in result.output
    with fresh_app.app_context():
        med1 = db.session.scalar(select(User).where(User.username == "med1"))
        assert med1.department.name == "东村调委会"

    def refused(data: bytes, actor) -> str:
        with pytest.raises(ImportRefused) as error:
            import_town(data, actor=actor)
        db.session.rollback()
        return " ".join(str(f) for f in error.value.faults)

    with fresh_app.app_context():
        first, other = db.session.scalars(select(Town).order_by(Town.id)).all()
        keeper = User(
            username="d_keeper",
            display_name="区安全管理员",
            role="security_admin",
            password_hash="x",
            town_id=None,
        )
        admin = User(
            username="a_admin",
            display_name="新镇系统管理员",
            role="admin",
            password_hash="x",
            town_id=first.id,
        )
        db.session.add_all([keeper, admin])
        db.session.commit()
        people = [("leader2", "二镇镇长", "领导", "", "", "")]
        import_town(
            filled(镇=[("二镇", "", "")], 账号=people, 村=[], 网格=[], 部门=[]), actor=keeper
        )
        db.session.commit()
        assert db.session.scalar(select(User.town_id).where(User.username == "leader2")) == other.id
        assert "请系统管理员先导入该镇" in refused(
            filled(镇=[("三镇", "", "")], 账号=[], 村=[], 网格=[], 部门=[]), keeper
        )
        assert "请在“镇”表填写本文件所属的镇" in refused(
            filled(镇=[], 账号=people, 村=[], 网格=[], 部门=[]), keeper
        )
        assert "是另一个镇的名称" in refused(
            filled(镇=[("二镇", "", "")], 村=[], 网格=[], 部门=[], 账号=[]), admin
        )
        assert db.session.get(Town, first.id).name == "新镇"
