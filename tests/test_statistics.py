"""The town's figures against a hand-built month (June 2026, Dragon Boat holiday on the 19th)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from server.cases import workflow
from server.figures import disclosure, partials, statistics
from server.follow_through import screening
from server.infra import clock
from tests.helpers import new_report

SH = ZoneInfo("Asia/Shanghai")
CHECKLIST = ["D02", "H01", "S04"]


def at(m, d, h=10, minute=0):
    return datetime(2026, m, d, h, minute, tzinfo=SH)


def step(moment, case, action, actor, **fields):
    with clock.frozen_at(moment):
        workflow.apply(case, action, actor=actor, **fields)


def report(moment, world, code="D02", **kw):
    with clock.frozen_at(moment):
        return new_report(world, code, parties=[], **kw)


def handle(world, case, days, result="mediated"):
    """accept .. resolve on the given days of June or July: (month, day) pairs."""
    (am, ad), (dm, dd), (sm, sd), (rm, rd) = days
    step(at(am, ad, 11), case, "accept", world.center)
    step(at(dm, dd, 11), case, "dispatch", world.center, lead_department=world.justice.id)
    step(at(sm, sd, 11), case, "sign_for", world.justice_handler)
    step(
        at(rm, rd, 11),
        case,
        "resolve",
        world.justice_handler,
        result_code=result,
        result_text="处理完毕",
    )


@pytest.fixture
def june(world):
    """Six reports, one merged away, one reopened, one crossing into July."""
    w = world
    a = report(at(6, 2, 9), w)
    d = report(at(6, 3, 9), w)  # a duplicate of A: merged, never counted
    step(at(6, 3, 10), d, "merge", w.center, into=a.code)
    handle(w, a, [(6, 2), (6, 2), (6, 3), (6, 10)])
    step(at(6, 11), a, "verify", w.center)
    step(
        at(6, 12), a, "record_visit", w.worker1, text="好", satisfaction="satisfied", outcome="gone"
    )
    step(at(6, 12, 15), a, "close", w.center, closing_reason="resolved")

    b = report(at(6, 5, 9), w, "D03")
    handle(w, b, [(6, 5), (6, 5), (6, 8), (6, 8)])
    step(at(6, 9), b, "verify", w.center)
    step(
        at(6, 15),
        b,
        "record_visit",
        w.worker1,
        text="又吵",
        outcome="back_again",
        satisfaction="dissatisfied",
    )  # reopened
    step(at(6, 16), b, "dispatch", w.center, lead_department=w.justice.id)
    step(at(6, 16, 12), b, "sign_for", w.justice_handler)
    step(
        at(6, 20, 12),
        b,
        "resolve",
        w.justice_handler,
        result_code="mediated",
        result_text="再次调解成功",
    )
    step(at(6, 24), b, "verify", w.center)
    step(
        at(6, 24, 12),
        b,
        "record_visit",
        w.worker1,
        text="好了",
        outcome="gone",
        satisfaction="satisfied",
    )
    step(at(6, 25), b, "close", w.center, closing_reason="resolved")

    c = report(at(6, 29, 9), w, "H01")  # crosses into July
    handle(w, c, [(6, 29), (6, 30), (7, 1), (7, 3)], result="hazard_removed")

    e = report(at(6, 10, 9), w, "S04")  # urgent: 30 minutes to accept, taken in 2 hours
    step(at(6, 10, 11), e, "accept", w.center)

    # Thursday 18 June 10:00: two working days end on Tuesday 23 June 10:00, because
    # Friday 19 is the Dragon Boat holiday; accepted on Monday 22 at 15:00: on time.
    f = report(at(6, 18, 10), w)
    step(at(6, 22, 15), f, "accept", w.center)

    for moment, village, worker in (
        (at(6, 4), w.v1, w.worker1),
        (at(6, 18), w.v1, w.worker1),
        (at(6, 9), w.v2, w.worker2),
    ):
        with clock.frozen_at(moment):
            screening.file_screening(actor=worker, village=village, checked=CHECKLIST, findings=[])
    return {"a": a, "b": b, "c": c, "d": d, "e": e, "f": f}


def test_the_month_of_june(june, world):
    with clock.frozen_at(at(7, 10)):
        figures = statistics.compute(statistics.month(2026, 6))
    assert figures.received == 5  # A, B, C, E, F (D was merged)
    assert figures.received_by_group == {"矛盾纠纷": 3, "安全隐患": 1, "治安隐患": 1}
    assert figures.received_by_source == {"网格员上报": 5}
    assert figures.accepted == 5
    assert figures.resolved == 2  # A, and B once although resolved twice
    assert figures.closed == 2
    assert (figures.disputes_closed, figures.disputes_closed_resolved) == (2, 2)
    assert figures.resolution_rate == 1.0
    assert (figures.mediations, figures.mediations_succeeded) == (2, 2)
    assert figures.hazards_found == 2
    assert figures.hazards_removed == 0  # C was removed in July
    # Accepts: A, B, C, F on time (F thanks to the holiday), E late.
    assert figures.on_time["accept"] == (4, 5)
    assert figures.follow_ups == 3
    assert (figures.satisfied, figures.answered) == (2, 3)
    assert (figures.screenings, figures.nil_returns) == (3, 3)
    assert (figures.villages, figures.villages_screened) == (2, 1)  # two a month required
    assert figures.trend == [("2026-06", 5)]
    # B was reopened once; two cases resolved.
    assert (figures.reopened, figures.disputes_reopened, figures.reopen_rate) == (1, 1, 0.5)
    assert figures.repeat_disputes == 0


def test_july_sees_what_crossed_the_month(june):
    with clock.frozen_at(at(7, 10)):
        july = statistics.compute(statistics.month(2026, 7))
    assert july.received == 0
    assert july.resolved == 1
    assert july.hazards_removed == 1
    assert july.on_time["handle"] == (1, 1)


def test_a_quarter_and_filters(june, world):
    with clock.frozen_at(at(7, 10)):
        quarter = statistics.compute(statistics.quarter(2026, 2))
        only_east = statistics.compute(statistics.month(2026, 6), village_id=world.v1.id)
        neighbours = statistics.compute(statistics.month(2026, 6), category_code="D02")
    assert quarter.received == 5
    assert only_east.received == 5  # every report is in the east village
    assert neighbours.received == 2  # A and F (D merged)
    assert quarter.trend == [("2026-04", 0), ("2026-05", 0), ("2026-06", 5)]


def test_ledgers_open_in_excel_with_the_expected_rows(june, world, runner, tmp_path):
    import io

    from openpyxl import load_workbook

    from server.cases.operations import Reporter
    from server.figures import ledgers

    with clock.frozen_at(at(6, 6, 9)):
        named = new_report(
            world,
            "D02",
            actor=None,
            source="qr",
            parties=[],
            reporter=Reporter(anonymous=False, name="王秀英", phone="13911112222"),
        )
    with clock.frozen_at(at(7, 10)):
        out = io.BytesIO()
        assert ledgers.write("disputes", statistics.month(2026, 6), out) == 4

    def read(source):
        book = load_workbook(source, read_only=True)
        try:
            return book.sheetnames, list(book.active.iter_rows(values_only=True))
        finally:
            book.close()  # read-only workbooks keep their file open until closed

    names, rows = read(io.BytesIO(out.getvalue()))
    assert names == ["矛盾纠纷排查调处台账"]
    assert rows[0][:5] == ("序号", "案件编号", "登记日期", "村", "纠纷类别")
    codes_in_ledger = {row[1].replace("-", "") for row in rows[1:]}
    assert codes_in_ledger == {june["a"].code, june["b"].code, june["f"].code, named.code}
    by_code = {row[1].replace("-", ""): dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert by_code[june["a"].code]["登记日期"] == "2026-06-02"
    assert by_code[june["a"].code]["调处结果"] == "调解成功"
    assert by_code[june["a"].code]["当前状态"] == "已结案"
    assert [by_code[june[k].code]["重开次数"] for k in "abf"] == [0, 1, 0]
    assert by_code[june["a"].code]["重复纠纷"] == "否"
    text = " ".join(str(v) for row in rows for v in row if v is not None)
    assert "王秀英" not in text
    assert "13911112222" not in text

    hazards = tmp_path / "hazards.xlsx"
    result = runner.invoke(
        args=[
            "export-ledger",
            "hazards",
            "--from",
            "2026-06-01",
            "--to",
            "2026-06-30",
            str(hazards),
        ]
    )
    assert result.exit_code == 0, result.output
    hazard_rows = read(hazards)[1]
    assert hazard_rows[0][4] == "隐患类别"
    assert {row[4] for row in hazard_rows[1:]} == {"火灾隐患", "涉贩毒"}
    cases = tmp_path / "cases.xlsx"
    runner.invoke(
        args=["export-ledger", "cases", "--from", "2026-06-01", "--to", "2026-06-30", str(cases)]
    )
    steps = read(cases)[1]
    assert steps[0][6:15] == (
        "上报",
        "受理",
        "派遣",
        "签收",
        "办结",
        "核查",
        "回访",
        "结案",
        "重开次数",
    )
    assert len(steps) == 1 + 6  # five of June and the named one (not the merged duplicate)


def test_the_dashboard_report_and_disclosure_pages(june, world, client):
    from tests.admin.conftest import csrf_from
    from tests.factories import PASSWORD

    with clock.frozen_at(at(7, 10)):
        token = csrf_from(client.get("/admin/login").get_data(as_text=True))
        client.post(
            "/admin/login", data={"csrf_token": token, "username": "t_leader", "password": PASSWORD}
        )
        page = client.get("/admin/dashboard?kind=month&value=2026-06").get_data(as_text=True)
        assert 'id="fig-received">5<' in page
        assert "<svg" in page
        assert "化解率" in page
        report = client.get("/admin/report?kind=month&value=2026-06").get_data(as_text=True)
        assert "全镇共收到各类报告5件次" in report
        assert "调解成功2件" in report
        assert "化解率100.0%" in report
        assert "重开案件1件，重开率50.0%" in report
        assert 'id="fig-reopen-rate">50.0%<' in page
        xlsx = client.get("/admin/report.xlsx?kind=month&value=2026-06")
        assert xlsx.mimetype.endswith("spreadsheetml.sheet")
        public = client.get("/disclosure/2026-6").get_data(as_text=True)
    # Five reports, all in one village: the village may be shown, each group is below 5.
    assert "<b>5</b> 件次" in public
    assert "&lt;5" in public
    assert "东村" in public
    assert june["a"].description not in public


def test_a_dispute_counts_once_and_succeeds_when_a_mediation_did(world):
    """Resolved in June as failed, reopened, mediated in June, reopened again and resolved
    in July: June counts one mediation, successful; July one more, failed; the two months
    together count the dispute once, mediated successfully (in June)."""
    w = world
    g = report(at(6, 1, 9), w)
    handle(w, g, [(6, 1), (6, 1), (6, 2), (6, 3)], result="mediation_failed")
    step(at(6, 4), g, "verify", w.center)
    step(at(6, 5), g, "record_visit", w.worker1, text="又吵", outcome="back_again")
    step(at(6, 8), g, "dispatch", w.center, lead_department=w.justice.id)
    step(at(6, 8, 12), g, "sign_for", w.justice_handler)
    step(
        at(6, 9, 12),
        g,
        "resolve",
        w.justice_handler,
        result_code="mediated",
        result_text="调解成功",
    )
    step(at(6, 10), g, "verify", w.center)
    step(at(7, 1), g, "record_visit", w.worker1, text="又吵", outcome="broken")
    step(at(7, 2), g, "dispatch", w.center, lead_department=w.justice.id)
    step(at(7, 2, 12), g, "sign_for", w.justice_handler)
    step(
        at(7, 3, 12),
        g,
        "resolve",
        w.justice_handler,
        result_code="mediation_failed",
        result_text="调解不成",
    )
    with clock.frozen_at(at(7, 10)):
        june = statistics.compute(statistics.month(2026, 6))
        july = statistics.compute(statistics.month(2026, 7))
        quarter = statistics.compute(statistics.Period(at(6, 1).date(), at(8, 1).date(), "夏"))
    assert (june.resolved, june.mediations, june.mediations_succeeded) == (1, 1, 1)
    assert (july.resolved, july.mediations, july.mediations_succeeded) == (1, 1, 0)
    assert (quarter.resolved, quarter.mediations, quarter.mediations_succeeded) == (1, 1, 1)
    assert (june.disputes_handled, july.disputes_handled, quarter.disputes_handled) == (1, 1, 1)
    # Reopened in June and again in July: once in each month, once in the two together.
    assert (june.reopened, july.reopened, quarter.reopened) == (1, 1, 1)
    assert june.hours_to_resolve[0] == 2 * 24 + 2  # 9:00 on the 1st to 11:00 on the 3rd


def test_each_event_carries_what_the_figures_count(world):
    from sqlalchemy import select

    from server.db import db
    from server.models import CaseEvent

    w = world
    g = report(at(6, 1, 9), w)
    handle(w, g, [(6, 1), (6, 1), (6, 2), (6, 3)], result="mediation_failed")
    step(at(6, 4), g, "verify", w.center)
    step(
        at(6, 5),
        g,
        "record_visit",
        w.worker1,
        text="又吵",
        outcome="back_again",
        satisfaction="dissatisfied",
    )
    step(at(6, 8), g, "dispatch", w.center, lead_department=w.justice.id)
    step(at(6, 8, 12), g, "sign_for", w.justice_handler)
    step(
        at(6, 9, 12),
        g,
        "resolve",
        w.justice_handler,
        result_code="mediated",
        result_text="调解成功",
    )
    events = db.session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == g.id).order_by(CaseEvent.id)
    ).all()
    by_action = {}
    for event in events:
        by_action.setdefault(event.action, []).append(event)
        assert (event.village_id, event.category_id) == (g.village_id, g.category_id)
    first, second = by_action["resolve"]
    assert first.previous_at is None
    assert second.previous_at == at(6, 3, 11)
    assert (first.result, second.result) == ("mediation_failed", "mediated")
    assert first.step == "handle"
    assert first.step_due_at is not None
    assert first.seconds_since_report == (2 * 24 + 2) * 3600
    assert by_action["record_visit"][0].result == "dissatisfied"
    assert by_action["reopen"][0].step == "follow_up"
    assert by_action["accept"][0].step == "accept"
    assert by_action["submit"][0].step is None


def test_kept_monthly_figures_give_the_same_figures(june, world):
    """The sweep keeps each month that is over; a quarter adds them up exactly as counting
    the events would. The reports received are kept too, as of the month's last change: a
    duplicate merged, or a report put in another category, after its month was kept
    counts at once (afresh), and the next sweep keeps the month again."""
    from dataclasses import asdict

    from server.db import db
    from server.models import Category, MonthlyFigures, MonthlyReceived

    late = report(at(6, 30, 23), world)  # a report of June, found a duplicate in August
    moved = report(at(6, 30, 22), world)  # a report of June, accepted in August as D03

    periods = [
        statistics.month(2026, 6),
        statistics.quarter(2026, 2),
        statistics.year(2026),
        statistics.Period(at(6, 2).date(), at(7, 4).date(), ""),
    ]
    with clock.frozen_at(at(8, 1, 0, 30)):  # July ended half an hour ago: not kept yet
        assert partials.keep_month_figures() == 1  # June (the first report's) only
    with clock.frozen_at(at(8, 3)):
        counted = [asdict(statistics.compute(p)) for p in periods]
        assert partials.keep_month_figures() == 1  # July
        assert partials.keep_month_figures() == 0  # nothing left to keep
        assert [asdict(statistics.compute(p)) for p in periods] == counted
        # A kept month is really read: change its row, and the figures follow it.
        june_row = db.session.get(MonthlyFigures, at(6, 1).date())
        kept = june_row.partial
        june_row.partial = {**kept, "once": []}
        db.session.flush()
        assert statistics.compute(periods[0]).accepted == 0
        # A row kept by an older version is not read, and the sweep replaces it.
        june_row.partial, june_row.version = kept, partials.Partial.VERSION - 1
        db.session.flush()
        assert asdict(statistics.compute(periods[0])) == counted[0]
        assert partials.keep_month_figures() == 1
        june_row = db.session.get(MonthlyFigures, at(6, 1).date())
        assert june_row.version == partials.Partial.VERSION

        # The kept reports are really read: change June's, and the figures follow.
        june_received = db.session.get(MonthlyReceived, at(6, 1).date())
        assert june_received.kept_revision == june_received.revision
        kept_revision = june_received.revision
        stored = june_received.received
        june_received.received = {**stored, "source": {"qr": 999}}
        db.session.flush()
        assert statistics.compute(periods[0]).received_by_source == {"扫码上报": 999}
        june_received.received = stored
        db.session.flush()

    june_before = counted[0]
    step(at(8, 3, 12), late, "merge", world.center, into=june["f"].code)
    with clock.frozen_at(at(8, 3, 13)):
        # Counted afresh at once: the merge counted a revision of June's reports.
        assert statistics.compute(periods[0]).received == june_before["received"] - 1
    d03 = db.session.scalar(select(Category).where(Category.code == "D03"))
    step(at(8, 3, 14), moved, "accept", world.center, category=d03.code)
    with clock.frozen_at(at(8, 3, 15)):
        figures = statistics.compute(periods[0])
        assert figures.received == june_before["received"] - 1
        assert figures.received_by_category.get(d03.name, 0) == (
            june_before["received_by_category"].get(d03.name, 0) + 1
        )
        # The next sweep keeps June's reports again, as of both changes.
        assert partials.keep_month_figures() == 1
        june_received = db.session.get(MonthlyReceived, at(6, 1).date())
        db.session.refresh(june_received)
        # Two changes: the merge and the new category.
        assert june_received.kept_revision == june_received.revision == kept_revision + 2
        assert asdict(statistics.compute(periods[0])) == asdict(figures)
    assert db.session.get(MonthlyFigures, at(6, 1).date()) is not None  # events: still valid


def test_each_town_of_a_district_keeps_its_own_months(june, world, towns):
    """In a district the sweep keeps each town's months too (TownMonthlyFigures), and a
    town's quarter or year adds up its own kept months: the same figures as counting its
    events, none of another town's, and with the other town's adding up to the
    district's."""
    from dataclasses import asdict

    from server.db import db
    from server.models import MonthlyReceived, TownMonthlyFigures

    theirs = report(at(6, 5, 9), world, village=towns["village"], actor=towns["grid"])
    step(at(6, 5, 10), theirs, "accept", towns["center"])
    step(
        at(7, 6, 10),
        theirs,
        "dispatch",
        towns["center"],
        lead_department=towns["justice_office"].id,
    )
    periods = [statistics.month(2026, 6), statistics.quarter(2026, 3), statistics.year(2026)]
    here, there = world.town.id, towns["town"].id
    june_first, july_first = at(6, 1).date(), at(7, 1).date()

    def figures():
        return {
            t: [asdict(statistics.compute(p, town_id=t)) for p in periods] for t in (here, there)
        }

    # Asked of one village, of another town's or of a category, a town's figures are
    # counted from the events as before: the kept months are the whole town's.
    narrower = [
        {"village_id": world.v1.id},
        {"village_id": towns["village"].id},
        {"category_code": "D02"},
    ]

    def narrowed():
        return [asdict(statistics.compute(periods[2], town_id=here, **k)) for k in narrower]

    def received_of_towns():
        fields = ("received", "received_by_source", "received_by_category", "received_by_village")
        return {
            t: {f: getattr(statistics.compute(periods[0], town_id=t), f) for f in fields}
            for t in (here, there)
        }

    with clock.frozen_at(at(8, 3)):
        counted, counted_narrower = figures(), narrowed()
        counted_rolling = statistics.rolling_year(here)
        while partials.keep_month_figures():
            pass
        kept = set(db.session.execute(select(TownMonthlyFigures.town_id, TownMonthlyFigures.month)))
        assert kept == {(t, m) for t in (here, there) for m in (june_first, july_first)}
        assert figures() == counted
        assert narrowed() == counted_narrower
        assert counted_narrower[1]["received"] == counted_narrower[1]["accepted"] == 0
        # A town's reports of a kept month are its part of the month kept for all: change
        # that part, and its figures follow; without it (a month kept by an older
        # release), they are counted from the cases.
        june_received = db.session.get(MonthlyReceived, june_first)
        stored = june_received.received
        assert counted[there][0]["received_by_source"] == {"网格员上报": 1}
        theirs_kept = stored["towns"][str(there)]
        june_received.received = {
            **stored,
            "towns": {**stored["towns"], str(there): {**theirs_kept, "source": {"qr": 1}}},
        }
        db.session.flush()
        assert statistics.compute(periods[0], town_id=there).received_by_source == {"扫码上报": 1}
        assert asdict(statistics.compute(periods[0], town_id=here)) == counted[here][0]
        june_received.received = {k: v for k, v in stored.items() if k != "towns"}
        db.session.flush()
        assert figures() == counted
        june_received.received = stored
        db.session.flush()
        # A village moved to another town since the month was kept: both towns' reports
        # of the month are counted from the cases, as if nothing were kept.
        towns["village"].town_id = here
        db.session.flush()
        kept_after_move = received_of_towns()
        june_received.received = {k: v for k, v in stored.items() if k != "towns"}
        db.session.flush()
        assert kept_after_move == received_of_towns()
        assert kept_after_move[here]["received"] == counted[here][0]["received"] + 1
        assert kept_after_move[there]["received"] == 0
        june_received.received = stored
        towns["village"].town_id = there
        db.session.flush()
        assert statistics.rolling_year(here) == counted_rolling
        district = asdict(statistics.compute(periods[2]))
        for key in ("received", "accepted", "resolved", "closed", "mediations"):
            assert counted[here][2][key] + counted[there][2][key] == district[key], key
        assert counted[there][0]["accepted"] == 1
        assert counted[here][0]["accepted"] == district["accepted"] - 1
        # A town's kept month is really read: change its row, and its figures follow it;
        # the other town's stay.
        row = db.session.get(TownMonthlyFigures, (here, june_first))
        row.partial = {**row.partial, "once": []}
        db.session.flush()
        assert statistics.compute(periods[0], town_id=here).accepted == 0
        assert asdict(statistics.compute(periods[0], town_id=there)) == counted[there][0]
        assert narrowed() == counted_narrower  # not read for a village or a category
        june_closed = next(row for row in counted_rolling if row[0] == "2026-06")[2]
        assert june_closed > 0
        assert next(r for r in statistics.rolling_year(here) if r[0] == "2026-06")[2] == 0
        # A row of an older version is not read, and the sweep replaces it.
        row.version = partials.Partial.VERSION - 1
        db.session.flush()
        assert asdict(statistics.compute(periods[0], town_id=here)) == counted[here][0]
        assert partials.keep_month_figures() == 1
        row = db.session.get(TownMonthlyFigures, (here, june_first))
        assert row.version == partials.Partial.VERSION
        assert asdict(statistics.compute(periods[0], town_id=here)) == counted[here][0]


def test_a_town_alone_keeps_no_months_of_its_own(june, world):
    """A deployment of one town: its figures are the deployment's kept months."""
    from server.db import db
    from server.models import TownMonthlyFigures

    with clock.frozen_at(at(8, 3)):
        assert partials.keep_month_figures() == 2
        assert db.session.scalar(select(TownMonthlyFigures).limit(1)) is None


def test_the_months_disclosure_gives_nothing_away_by_subtraction(june, world):
    from tests.test_disclosure import possible_values

    # One more dispute in the east village: June's total 6, the disputes 4 beside two
    # hazards of one each.
    report(at(6, 20, 9), world)
    with clock.frozen_at(at(7, 10)):
        public = disclosure.disclosure(statistics.month(2026, 6))
    assert public["received"] == "6"
    for table in (public["groups"], public["villages"]):
        values = [v for _label, v in table]
        if any(not v.isdigit() for v in values):
            assert all(len(p) >= 2 for p in possible_values(values, 6)), table


def test_the_screening_duty_is_checked_month_by_month_and_week_by_week(world):
    """Two screenings in a year meet no monthly minimum; screening every week of June
    meets both duties for June, and only the weekly one is then missed in July."""
    w = world
    for moment in (at(3, 3), at(9, 9)):  # village 2: twice in the year
        with clock.frozen_at(moment):
            screening.file_screening(actor=w.worker2, village=w.v2, checked=CHECKLIST, findings=[])
    for day in (1, 8, 15, 22, 29):  # village 1: each Monday of June
        with clock.frozen_at(at(6, day)):
            screening.file_screening(actor=w.worker1, village=w.v1, checked=CHECKLIST, findings=[])
    with clock.frozen_at(at(12, 31)):
        year = statistics.compute(statistics.year(2026))
        june = statistics.compute(statistics.month(2026, 6))
    assert (year.villages, year.villages_screened) == (2, 0)  # before: village 2 "met" it
    assert (june.villages_screened, june.villages_screened_weekly) == (1, 1)


def test_the_report_names_the_villages_that_missed_and_counts_enforcement_apart(
    june, world, client, signin
):
    w = world
    fishing = report(at(6, 10, 8), w, "E03")  # 非法捕鱼: enforcement, not a hazard
    step(at(6, 10, 9), fishing, "accept", w.center)
    step(at(6, 10, 10), fishing, "dispatch", w.center, lead_department=w.enforcement.id)
    step(at(6, 10, 11), fishing, "sign_for", w.enforcement_handler)
    step(
        at(6, 11, 11),
        fishing,
        "resolve",
        w.enforcement_handler,
        result_code="hazard_removed",
        result_text="已收缴电鱼工具",
    )
    with clock.frozen_at(at(7, 10)):
        figures = statistics.compute(statistics.month(2026, 6))
        signin(w.leader)
        page = client.get("/admin/report?kind=month&value=2026-06").get_data(as_text=True)
    assert (figures.hazards_found, figures.hazards_removed) == (2, 0)  # not the fishing
    assert (figures.enforcement_found, figures.enforcement_handled) == (1, 1)
    assert "各执法部门共参与非法捕鱼等各项活动1起" in page
    assert "西村未达到，须督促补查" in page  # one screening in June of two required


def test_open_late_steps_count_against_the_on_time_rates(june):
    with clock.frozen_at(at(7, 10)):
        figures = statistics.compute(statistics.month(2026, 6))
    # E and F were accepted in June and never dispatched: both went late in June.
    assert figures.late_open == {"dispatch": 2}
    # A, B (twice) and C were dispatched on time; before, the rate read 4 of 4.
    assert figures.on_time["dispatch"] == (4, 6)


@pytest.mark.parametrize(
    ("kind", "value", "label"),
    [
        ("month", "2026年11月", "2026年11月"),
        ("month", "2026-11", "2026年11月"),
        ("month", "2026/3", "2026年3月"),
        ("quarter", "2026年第四季度", "2026年第4季度"),
        ("quarter", "2026-Q2", "2026年第2季度"),
        ("year", "2026年", "2026年"),
    ],
)
def test_periods_are_read_as_people_write_them(kind, value, label):
    assert statistics.parse_period(kind, value).label == label


@pytest.mark.parametrize("value", ["2026年13月", "十一月", "2026-11-31x"])
def test_a_period_that_cannot_be_read_is_refused_not_replaced(value):
    from server.infra.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match="无法识别"):
        statistics.parse_period("month", value)


def test_the_dashboard_opens_on_the_last_complete_month(world, client, signin):
    with clock.frozen_at(at(12, 1, 9)):  # the 1st: December is still empty
        signin(world.leader)
        page = client.get("/admin/dashboard").get_data(as_text=True)
        refused = client.get("/admin/dashboard?kind=month&value=2026年13月")
    assert "统计 · 2026年11月" in page
    assert refused.status_code == 422
    assert "无法识别的月份" in refused.get_data(as_text=True)


def test_what_a_leader_looks_at_first(june, world, client, signin):
    with clock.frozen_at(at(7, 10)):
        rolling = statistics.rolling_year()
        figures = statistics.compute(statistics.month(2026, 6))
        signin(world.leader)
        page = client.get("/admin/dashboard?kind=month&value=2026-06").get_data(as_text=True)
    assert [m for m, *_ in rolling][-2:] == ["2026-06", "2026-07"]
    assert len(rolling) == 12
    june_row = {m: rest for m, *rest in rolling}["2026-06"]
    # Five received, two closed; late: E's acceptance, B's second verification (over the
    # Dragon Boat weekend), and E's and F's dispatch, still open.
    assert june_row == [5, 2, 4]
    assert (world.v1.id, "东村", 3, 3) in figures.villages_now  # C to verify, E and F
    assert (world.v2.id, "西村", 0, 0) in figures.villages_now
    assert figures.late_by_department == [(world.justice.id, "测试司法所", 1, 1)]
    assert f'href="/admin/?village={world.v1.id}"' in page
    assert f'href="/admin/?department={world.justice.id}&amp;overdue=1"' in page
    assert 'href="/admin/?overdue=1"' in page


def test_every_count_of_the_period_leads_to_the_cases_it_counts(june, world, client, signin):
    with clock.frozen_at(at(7, 10)):
        figures = statistics.compute(statistics.month(2026, 6))
        signin(world.leader)
        page = client.get("/admin/dashboard?kind=month&value=2026-06").get_data(as_text=True)
        listed = {}
        for event in ("submit", "accept", "resolve", "close", "reopen"):
            url = f"/admin/counted?event={event}&from=2026-06-01&to=2026-06-30"
            assert f'href="{url.replace("&", "&amp;")}"' in page, event
            body = client.get(url).get_data(as_text=True)
            listed[event] = sum(body.count(c.code[:4] + "-" + c.code[4:8]) for c in june.values())
    assert listed == {
        "submit": figures.received,
        "accept": figures.accepted,
        "resolve": figures.resolved,
        "close": figures.closed,
        "reopen": figures.reopened,
    }


def test_every_bar_and_its_number_lead_to_the_cases_it_counts(june, world, client, signin):
    """Each number in a chart's table is a link, and the list behind it holds exactly that
    many cases, on the town's dashboard and on a village's (whose links keep the village)."""
    import html
    import re

    with clock.frozen_at(at(7, 10)):
        signin(world.leader)
        for query in (
            "kind=month&value=2026-06",
            f"kind=month&value=2026-06&village={world.v1.id}",
        ):
            page = client.get(f"/admin/dashboard?{query}").get_data(as_text=True)
            number_link = r'<td><a href="(/admin/counted\?[^"]+)">(\d+)</a></td>'
            own, town = page.split("<h2>近12个月</h2>")  # the rolling year is the town's
            links = re.findall(number_link, own)
            # trend, group, source, category, village: one each at least
            assert len(links) >= 5, query
            if "village=" in query:
                assert all(f"village={world.v1.id}" in href for href, _n in links), links
            links += re.findall(number_link, town)
            assert len(links) >= 5 + 24  # twelve months of received and closed
            for href, number in links:
                href = html.unescape(href)
                body = client.get(href).get_data(as_text=True)
                listed = body.count('<tr><td data-label="案件编号"><a href="/admin/cases/')
                assert listed == int(number), (href, number)
            for rate in (
                "event=close&amp;group=dispute",
                "event=resolve&amp;group=dispute",
                "event=record_visit",
                "repeat=1",
            ):
                assert rate in page, rate
        june_group = client.get(
            "/admin/counted?event=submit&from=2026-06-01&to=2026-06-30&group=dispute"
        )
        assert "矛盾纠纷" in june_group.get_data(as_text=True)
        refused = client.get(
            "/admin/counted?event=submit&from=2026-06-01&to=2026-06-30&group=nonsense"
        )
        assert refused.status_code == 422
        assert "未知的类别分组" in refused.get_data(as_text=True)


def test_the_quantiles_of_sorted_runs_are_those_of_all_values_sorted_together():
    """A period's median and 90th percentile come from its months' sorted runs without
    merging them: the same as sorting every value together, for odd and even counts,
    ties, a single value and empty runs."""
    import random
    import statistics as stats

    from server.figures.statistics import _quantiles

    def expected(values):
        ordered = sorted(v / 3600 for v in values)
        p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered) + 0.999999) - 1)]
        return round(stats.median(ordered), 1), round(p90, 1)

    rng = random.Random(21)
    assert _quantiles([]) == (None, None)
    assert _quantiles([[], []]) == (None, None)
    assert _quantiles([[7200]]) == (2.0, 2.0)
    for trial in range(300):
        runs = [
            sorted(rng.choice((rng.randrange(0, 400_000), 3600 * rng.randrange(0, 5)))
                   for _ in range(rng.randrange(0, 40)))
            for _ in range(rng.randrange(1, 6))
        ]  # fmt: skip
        values = [v for run in runs for v in run]
        if values:
            assert _quantiles(runs) == expected(values), (trial, runs)


def test_a_month_s_reports_are_kept_as_of_the_revision_read_before_counting(
    june, world, monkeypatch
):
    """The sweep reads a month's revision, counts, then keeps the count as of that
    revision: a change committed while it counts leaves the kept reports behind (counted
    afresh), and the next sweep keeps them again. A change to a report of the month still
    running counts no revision (nothing of that month is kept)."""
    from server.db import db
    from server.models import MonthlyReceived

    twin = report(at(6, 29, 9), world)
    later = report(at(6, 29, 10), world)
    first = at(6, 1).date()
    counting = partials.received

    def a_merge_lands_while_counting(start, end, **scope):
        if start.month == 6:  # June's count: a merge of a June report commits meanwhile
            with clock.frozen_at(at(8, 3, 10, 1)):
                workflow.apply(twin, "merge", actor=world.center, into=june["f"].code)
            db.session.flush()
        return counting(start, end, **scope)

    with clock.frozen_at(at(8, 3, 10)):
        monkeypatch.setattr(partials, "received", a_merge_lands_while_counting)
        partials.keep_month_figures()
        monkeypatch.setattr(partials, "received", counting)
        row = db.session.get(MonthlyReceived, first)
        db.session.refresh(row)
        assert row.kept_revision == row.revision - 1  # kept as of the revision read
        fresh = statistics.compute(statistics.month(2026, 6)).received  # counted afresh
        assert partials.keep_month_figures() == 1  # kept again, now as of the merge
        db.session.refresh(row)
        assert row.kept_revision == row.revision
        assert statistics.compute(statistics.month(2026, 6)).received == fresh

    # August's own report, merged in August: no revision of August.
    august = report(at(8, 3, 11), world)
    step(at(8, 3, 12), august, "merge", world.center, into=later.code)
    assert db.session.get(MonthlyReceived, at(8, 1).date()) is None
