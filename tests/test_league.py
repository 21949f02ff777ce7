"""The league tables (考核) of a hand-built month: September 2026, read on 10 October.

Five cases, each step put on or past its due time by hand:
- A (东村, justice): signed and resolved on time; the visit: 满意; closed.
- B (东村, justice): signed late, resolved late; the visit: 不满意, the problem back:
  reopened.
- C (西村, justice): signed on time; an extension asked and approved; resolved after the
  first due time but before the extended one (on time); the visit: 基本满意.
- D (西村, police): dispatched, returned (approved), dispatched again; signed and resolved
  on time; the visit: 满意.
- E (东村, police): dispatched, never signed: its sign-for step went late in September.
东村 screened twice in September (its grid worker), 西村 once.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from server.cases import workflow
from server.figures import league as lg
from server.figures.periods import month
from server.follow_through import screening
from server.infra import clock
from server.models import AuditEntry
from tests.helpers import new_report

SH = ZoneInfo("Asia/Shanghai")
SEPTEMBER = month(2026, 9)
READ_AT = datetime(2026, 10, 10, 9, tzinfo=SH)


def at(day, hour=10):
    return datetime(2026, 9, day, hour, tzinfo=SH)


def go(moment, case, action, actor, **fields):
    with clock.frozen_at(moment):
        workflow.apply(case, action, actor=actor, **fields)


def report(moment, world, code, village, grid):
    with clock.frozen_at(moment):
        return new_report(world, code, village=village, grid=grid)


def sign(case, handler, *, late):
    """Sign for half an hour before, or an hour after, the sign-for due time."""
    moment = case.due_at + (timedelta(hours=1) if late else -timedelta(minutes=30))
    go(moment, case, "sign_for", handler)


def resolve(case, handler, *, late):
    moment = case.due_at + (timedelta(hours=1) if late else -timedelta(hours=1))
    go(moment, case, "resolve", handler, result_code="mediated", result_text="已调解")


def visit(moment, case, world, worker, satisfaction, outcome="gone"):
    go(moment, case, "verify", world.center)
    go(moment + timedelta(hours=1), case, "record_visit", worker, text="回访", outcome=outcome,
       satisfaction=satisfaction)  # fmt: skip


def build_september(w) -> dict:
    """The month of the module's docstring, in the world `w`."""
    cases = {}

    a = cases["a"] = report(at(1), w, "D02", w.v1, w.g1)
    go(at(1, 11), a, "accept", w.center)
    go(at(2), a, "dispatch", w.center, lead_department=w.justice.id, due_at=at(10).isoformat())
    sign(a, w.justice_handler, late=False)
    resolve(a, w.justice_handler, late=False)
    visit(at(11), a, w, w.worker1, "satisfied")
    go(at(12), a, "close", w.center, closing_reason="resolved")

    b = cases["b"] = report(at(1, 12), w, "D02", w.v1, w.g1)
    go(at(1, 13), b, "accept", w.center)
    go(at(2, 11), b, "dispatch", w.center, lead_department=w.justice.id, due_at=at(12).isoformat())
    sign(b, w.justice_handler, late=True)
    resolve(b, w.justice_handler, late=True)
    visit(at(14), b, w, w.worker1, "dissatisfied", outcome="back_again")  # reopened

    c = cases["c"] = report(at(3), w, "D02", w.v2, w.g2)
    go(at(3, 11), c, "accept", w.center)
    go(at(4), c, "dispatch", w.center, lead_department=w.justice.id, due_at=at(15).isoformat())
    sign(c, w.justice_handler, late=False)
    go(at(14), c, "request_extension", w.justice_handler, until=at(25).isoformat(),
       reason="当事人外出", parties_consent=True)  # fmt: skip
    go(at(14, 15), c, "approve_extension", w.center)
    go(at(20), c, "resolve", w.justice_handler, result_code="mediated", result_text="已调解")
    visit(at(21), c, w, w.worker2, "basically_satisfied")

    d = cases["d"] = report(at(3, 12), w, "H01", w.v2, w.g2)
    go(at(3, 13), d, "accept", w.center)
    go(at(3, 14), d, "dispatch", w.center, lead_department=w.police.id)
    go(at(3, 15), d, "return", w.police_handler, reason="不属于本所职责")
    go(at(3, 16), d, "approve_return", w.center)
    go(at(4), d, "dispatch", w.center, lead_department=w.police.id, due_at=at(18).isoformat())
    sign(d, w.police_handler, late=False)
    resolve(d, w.police_handler, late=False)
    visit(at(19), d, w, w.worker2, "satisfied")

    e = cases["e"] = report(at(20), w, "H01", w.v1, w.g1)
    go(at(20, 11), e, "accept", w.center)
    go(at(21), e, "dispatch", w.center, lead_department=w.police.id)
    assert e.due_at < datetime(2026, 10, 1, tzinfo=SH)  # went late in September

    for moment, village, worker in (
        (at(7), w.v1, w.worker1),
        (at(21), w.v1, w.worker1),
        (at(8), w.v2, w.worker2),
    ):
        with clock.frozen_at(moment):
            screening.file_screening(actor=worker, village=village, checked=["D02"], findings=[])
    return cases


@pytest.fixture
def september(world):
    return build_september(world)


# Every case judged, however few: the hand-built month is small.
EVERY_CASE = {key: lg.Standard(s.weight, s.pass_mark, 1) for key, s in lg.DEFAULTS.items()}


def table(league, kind):
    return {row.name: row for row in league.tables[kind].rows}


def counts(row):
    return {key: (s.part, s.whole) for key, s in row.scores.items()}


def test_every_rate_against_hand_counts(september, world):
    with clock.frozen_at(READ_AT):
        league = lg.compute(SEPTEMBER, EVERY_CASE)
    departments = table(league, lg.DEPARTMENT)
    assert counts(departments["测试司法所"]) == {
        "sign_for": (2, 3),  # A, C on time; B late
        "resolve": (2, 3),  # A; C against its extension; B late
        "satisfaction": (2, 3),  # A 满意, C 基本满意; B 不满意
        "reopen": (1, 3),  # B, of A, B, C resolved
        "return": (0, 3),  # none of the three dispatched to it
        "extension": (1, 3),  # C, of the three resolved
    }
    assert counts(departments["测试派出所"]) == {
        "sign_for": (1, 2),  # D on time; E still unsigned, late in September
        "resolve": (1, 1),
        "satisfaction": (1, 1),
        "reopen": (0, 1),
        "return": (1, 3),  # D returned once, of three dispatches (D twice, E)
        "extension": (0, 1),
    }
    villages = table(league, lg.VILLAGE)
    assert counts(villages["东村"]) == {
        "sign_for": (1, 3),  # A; B late; E late and open
        "resolve": (1, 2),
        "satisfaction": (1, 2),
        "reopen": (1, 2),
        "return": (0, 3),  # A, B, E dispatched
        "extension": (0, 2),
        "screening": (2, None),
    }
    assert counts(villages["西村"]) == {
        "sign_for": (2, 2),
        "resolve": (2, 2),
        "satisfaction": (2, 2),
        "reopen": (0, 2),
        "return": (1, 3),  # C once, D twice
        "extension": (1, 2),
        "screening": (1, None),
    }
    workers = table(league, lg.GRID_WORKER)
    # Each grid worker: the cases of their grid (the same as their village's here), and
    # the screenings they filed.
    assert counts(workers["t_grid1"]) == counts(villages["东村"])
    assert counts(workers["t_grid2"]) == counts(villages["西村"])
    # Shown as rates, "—" without cases (never 0% or 100%).
    assert departments["测试司法所"].scores["sign_for"].shown == "66.7%"
    assert departments["东村村委会"].scores["sign_for"].shown == "—"
    # The town: the villages added up.
    assert {k: (s.part, s.whole) for k, s in league.town.items()} == {
        "sign_for": (3, 5),
        "resolve": (3, 4),
        "satisfaction": (3, 4),
        "reopen": (1, 4),
        "return": (1, 6),
        "extension": (1, 4),
    }
    assert league.received == 5


def test_scores_ranks_and_pass_marks(september, world):
    with clock.frozen_at(READ_AT):
        league = lg.compute(SEPTEMBER, EVERY_CASE)
    departments = table(league, lg.DEPARTMENT)
    justice, police = departments["测试司法所"], departments["测试派出所"]
    third = 1 / 3
    # Weights 20 sign-for, 30 resolve, 20 satisfaction, 10 reopen, 5 return, 5 extension.
    expected_justice = (
        20 * 2 / 3 + 30 * 2 / 3 + 20 * 2 / 3 + 10 * (1 - third) + 5 * 1 + 5 * (1 - third)
    ) / 90
    expected_police = (20 * 0.5 + 30 * 1 + 20 * 1 + 10 * 1 + 5 * (1 - third) + 5 * 1) / 90
    assert justice.score == round(100 * expected_justice, 1) == 68.5
    assert police.score == round(100 * expected_police, 1) == 87.0
    assert (police.rank, justice.rank) == (1, 2)
    # A department with nothing to judge is listed, unranked, after the ranked.
    assert departments["测试安监办"].rank is None
    assert departments["测试安监办"].score is None
    ranked = [row.name for row in league.tables[lg.DEPARTMENT].rows][:2]
    assert ranked == ["测试派出所", "测试司法所"]
    assert police.failed == ["按时签收率50.0%，低于95%", "退回率33.3%，高于10%"]
    assert justice.passed is False
    assert len(justice.failed) == 5
    villages = table(league, lg.VILLAGE)
    assert villages["西村"].failed[-1] == "排查1次，少于2次"
    assert not any("排查" in f for f in villages["东村"].failed)

    # The standards decide: lower marks pass the police station; the default smallest
    # sample (3) leaves its two sign-for steps unjudged.
    easier = dict(EVERY_CASE)
    easier["sign_for"] = lg.Standard(20, 50.0, 1)
    easier["return"] = lg.Standard(5, 50.0, 1)
    with clock.frozen_at(READ_AT):
        again = table(lg.compute(SEPTEMBER, easier), lg.DEPARTMENT)
        usual = table(lg.compute(SEPTEMBER, dict(lg.DEFAULTS)), lg.DEPARTMENT)
    assert again["测试派出所"].passed is True
    assert usual["测试派出所"].scores["sign_for"].judged is False
    assert usual["测试派出所"].scores["resolve"].judged is False
    assert usual["测试司法所"].scores["sign_for"].judged is True


def test_equal_scores_share_a_rank():
    m = lg.MEASURES["satisfaction"]
    rules = {"satisfaction": lg.Standard(1, 90.0, 1)}
    rows = [
        lg.Row(1, "甲", "", {"satisfaction": lg.Score(m, 9, 10)}),
        lg.Row(2, "乙", "", {"satisfaction": lg.Score(m, 18, 20)}),
        lg.Row(3, "丙", "", {"satisfaction": lg.Score(m, 1, 2)}),
        lg.Row(4, "丁", "", {"satisfaction": lg.Score(m, 10, 10)}),
        lg.Row(5, "戊", "", {"satisfaction": lg.Score(m, 0, 0)}),
    ]
    for row in rows:
        lg.score_row(row, rules)
    ordered = lg.rank(rows)
    assert [(r.name, r.rank) for r in ordered] == [
        ("丁", 1),
        ("甲", 2),
        ("乙", 2),
        ("丙", 4),
        ("戊", None),
    ]
    # 90% meets a 90% mark exactly (counted in whole numbers).
    assert rows[0].passed is True
    assert rows[2].passed is False


def test_the_standards_are_the_admins_and_audited(session, world):
    new = dict(lg.DEFAULTS)
    new["resolve"] = lg.Standard(40, 85.0, 5)
    lg.set_standards(new, actor=world.admin)
    session.flush()
    assert lg.standards()["resolve"] == lg.Standard(40, 85.0, 5)
    entry = session.query(AuditEntry).filter_by(action="league.standards_changed").one()
    assert entry.detail["standards"] == "按时办结率：权重30→40，达标线90→85，最少件数3→5"
    wrong = dict(new)
    wrong["sign_for"] = lg.Standard(20, 120.0, 3)
    with pytest.raises(Exception, match="达标线"):
        lg.set_standards(wrong, actor=world.admin)


def test_the_workbook_and_the_bulletin_hold_the_same_numbers(september, world):
    with clock.frozen_at(READ_AT):
        league = lg.compute(SEPTEMBER, EVERY_CASE)
    out = io.BytesIO()
    lg.write_workbook(league, out)
    book = load_workbook(io.BytesIO(out.getvalue()))
    assert book.sheetnames == ["部门考核", "村考核", "网格员考核", "考核通报", "考核标准"]
    sheet = book["部门考核"]
    header = [c.value for c in sheet[2]]
    rows = {r[1]: dict(zip(header, r, strict=True)) for r in sheet.iter_rows(3, values_only=True)}
    police = rows["测试派出所"]
    assert police["排名"] == 1
    assert police["得分"] == 87.0
    assert police["按时签收率"] == pytest.approx(0.5)
    assert police["按时签收率(件)"] == "1/2"
    assert police["退回率"] == pytest.approx(1 / 3)
    assert police["退回率(件)"] == "1/3"
    assert rows["测试司法所"]["满意率"] == pytest.approx(2 / 3)
    assert rows["东村村委会"]["按时签收率"] == "—"
    assert rows["测试派出所"]["考核结果"] == "未达标"
    villages = {r[1]: r for r in book["村考核"].iter_rows(3, values_only=True)}
    assert "排查次数" in [c.value for c in book["村考核"][2]]
    assert villages["西村"][0] is not None

    text = "".join(lg.bulletin(league))
    assert "2026年9月，全镇共收到各类报告5件次" in text
    assert "应签收5件，按时签收3件，按时签收率60.0%" in text
    assert "按时办结率75.0%" in text
    assert "排名依次为测试派出所（87.0分）、测试司法所（68.5分）" in text
    assert "测试派出所（按时签收率50.0%，低于95%，退回率33.3%，高于10%）" in text
    assert "予以通报" in text


def test_the_pages_excel_and_standards_form(client, signin, september, world):
    with clock.frozen_at(READ_AT):
        signin(world.center)
        page = client.get("/admin/league?value=2026-09").get_data(as_text=True)
        assert "2026年9月考核" in page
        assert "部门考核排名" in page
        assert "网格员考核排名" in page
        assert "不参与排名" in page
        response = client.get("/admin/league.xlsx?value=2026-09")
        assert response.status_code == 200
        assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
        book = load_workbook(io.BytesIO(response.data))
        assert book.sheetnames[0] == "部门考核"
        bulletin = client.get("/admin/league/bulletin?value=2026-09").get_data(as_text=True)
        assert "关于2026年9月矛盾纠纷排查调处工作考核情况的通报" in bulletin
        assert "2026年9月，全镇共收到各类报告5件次" in bulletin
        # The center reads the tables; the standards are the system admin's.
        assert client.get("/admin/league/standards").status_code == 403

        token = signin(world.admin)
        assert client.get("/admin/league/standards").status_code == 200
        form = {"csrf_token": token}
        for key, rule in lg.DEFAULTS.items():
            form |= {
                f"{key}_weight": rule.weight,
                f"{key}_pass_mark": rule.pass_mark,
                f"{key}_min_sample": 1,
            }
        form["sign_for_pass_mark"] = "50"
        form["return_pass_mark"] = "50"
        saved = client.post("/admin/league/standards", data=form, follow_redirects=True)
        assert "考核标准已保存" in saved.get_data(as_text=True)
        wrong = client.post(
            "/admin/league/standards", data=form | {"resolve_weight": "很多"}, follow_redirects=True
        )
        assert "按时办结率：请填写数字" in wrong.get_data(as_text=True)

        signin(world.leader)
        page = client.get("/admin/league?value=2026-09").get_data(as_text=True)
    # Under the admin's new marks the police station passes.
    police = page[page.index("测试派出所") :][:1500]
    assert "达标" in police
    assert "未达标" not in police.split("</tr>")[0]
    assert [e.action for e in AuditEntry.query.filter(AuditEntry.action.like("league.%"))] == [
        "league.exported",
        "league.standards_changed",
    ]
