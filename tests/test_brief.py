"""The joint meeting's brief (联席会研判) of a hand-built September 2026, item by item,
each item's count against the cases its link lists."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from server.cases import access, workflow
from server.cases.operations import Party
from server.db import db
from server.figures import brief as briefing
from server.figures.periods import month
from server.follow_through import screening
from server.infra import clock
from server.models import Case
from tests.helpers import new_report

SH = ZoneInfo("Asia/Shanghai")
SEPTEMBER = month(2026, 9)
READ_AT = datetime(2026, 10, 10, 9, tzinfo=SH)


def at(m, d, h=10, year=2026):
    return datetime(year, m, d, h, tzinfo=SH)


def go(moment, case, action, actor, **fields):
    with clock.frozen_at(moment):
        workflow.apply(case, action, actor=actor, **fields)


def filed(moment, world, code="D02", village=None, **draft):
    draft.setdefault("parties", [])
    with clock.frozen_at(moment):
        return new_report(world, code, village=village or world.v1, **draft)


@pytest.fixture
def september(world):
    w = world
    c = {}
    # 邻里纠纷: three in September, one in August, none a year ago: rising.
    c["d02_a"] = filed(at(9, 2), w)
    c["d02_b"] = filed(at(9, 3), w, people_involved=6)  # a group dispute by its size
    c["d02_aug"] = filed(at(8, 20), w, parties=[Party("王五"), Party("赵六", side="respondent")])
    # The same parties again in September: a repeat dispute (flagged at acceptance), in a
    # category where quarrels turn violent: a 民转刑 risk too.
    c["repeat"] = filed(at(9, 10), w, parties=[Party("王五"), Party("赵六", side="respondent")])
    go(at(8, 20, 11), c["d02_aug"], "accept", w.center)
    go(at(9, 10, 11), c["repeat"], "accept", w.center)
    # 火灾隐患: two in September, three in August and three a year ago: not rising.
    for day in (4, 5):
        c[f"h01_{day}"] = filed(at(9, day), w, "H01")
    for day in (4, 5, 6):
        filed(at(8, day), w, "H01")
        filed(at(9, day, year=2025), w, "H01")
    # 婚姻家庭: one in September: below the least that makes a trend.
    c["d01"] = filed(at(9, 6), w, "D01", group_dispute=True)  # a group dispute by the flag
    # Marked 民转刑 by the center; and a fight happening now.
    go(at(9, 6, 11), c["d01"], "accept", w.center)
    go(at(9, 7), c["d01"], "assess_risk", w.center, criminal_risk=True, reason="扬言报复")
    c["fight"] = filed(at(9, 8), w, "D05", happening_now=True)
    # A group dispute of July still open is still a group dispute; one closed is not.
    c["july_group"] = filed(at(7, 10), w, "D07", group_dispute=True)
    # Overdue: dispatched in September and never signed for; supervised: another.
    c["late"] = c["h01_4"]
    go(at(9, 4, 11), c["late"], "accept", w.center)
    go(at(9, 4, 12), c["late"], "dispatch", w.center, lead_department=w.safety.id)
    go(at(9, 5, 11), c["h01_5"], "accept", w.center)
    go(at(9, 5, 12), c["h01_5"], "supervise", w.center)
    # Screenings: 东村 twice, 西村 never.
    for day in (7, 21):
        with clock.frozen_at(at(9, day)):
            screening.file_screening(actor=w.worker1, village=w.v1, checked=["D02"], findings=[])
    return c


def listed(user, item, **more):
    rows, after = briefing.case_page(user, SEPTEMBER, item, **more)
    assert after is None
    return {case.code for case in rows}


def codes(cases, *names):
    return {cases[name].code for name in names}


def test_categories_rising_against_last_month_and_last_year(september, world):
    with clock.frozen_at(READ_AT):
        found = briefing.compute(SEPTEMBER)
        assert [(c.code, c.now, c.last_month, c.last_year) for c in found.rising] == [
            ("D02", 3, 1, 0)
        ]
        assert found.items["rising"].count == 1
        assert listed(world.center, "rising", category="D02") == codes(
            september, "d02_a", "d02_b", "repeat"
        )
    # September: 3 邻里, 2 火灾隐患, 1 婚姻家庭, 1 生产经营 (the fight).
    assert (found.received, found.received_last_month, found.received_last_year) == (7, 4, 3)
    text = "".join(found.paragraphs())
    assert "2026年9月，全镇共收到各类报告7件次，较上月（4件次）增加3件次" in text
    assert "较去年同月（3件次）增加4件次" in text
    assert "邻里纠纷3件（上月1件，去年同月0件）" in text


def test_repeat_group_and_criminal_risks(september, world):
    with clock.frozen_at(READ_AT):
        found = briefing.compute(SEPTEMBER)
        assert found.items["repeat"].count == 1
        assert listed(world.center, "repeat") == codes(september, "repeat")
        # Six people, the flag, and July's group dispute still open.
        assert found.items["group"].count == 3
        assert listed(world.center, "group") == codes(september, "d02_b", "d01", "july_group")
        # Marked 民转刑, happening now, and the repeat in 邻里.
        assert found.items["criminal"].count == 3
        assert listed(world.center, "criminal") == codes(september, "d01", "fight", "repeat")
        assert found.items["criminal"].parts == {
            "标记民转刑风险": 1,
            "红色风险": 0,
            "正在发生": 1,
            "婚姻家庭、邻里等重复纠纷": 1,
        }
    text = "".join(found.paragraphs())
    assert "同一当事人再次发生的重复纠纷1件" in text
    assert "存在民转刑风险的纠纷3件" in text


def test_overdue_supervised_and_screening_gaps(september, world):
    with clock.frozen_at(READ_AT):
        found = briefing.compute(SEPTEMBER)
        overdue = listed(world.center, "overdue")
    item = found.items["overdue"]
    assert september["late"].code in overdue
    assert september["h01_5"].code in overdue  # supervised
    # Every report left unaccepted is overdue too by October: they are in the count.
    assert item.count == len(overdue)
    assert item.parts["督办"] == 1
    assert [(g.name, g.screenings) for g in found.gaps] == [("西村", 0)]
    assert "1个村排查未达每月2次的要求：西村（0次）" in "".join(found.paragraphs())


def test_the_case_lists_go_through_the_access_policy(september, world):
    with clock.frozen_at(READ_AT):
        # The work-safety office sees the one case sent to it, of all the overdue.
        assert listed(world.safety_handler, "overdue") == codes(september, "late")
        assert listed(world.police_handler, "overdue") == set()


def test_the_pages_for_the_center_and_leaders(client, signin, september, world):
    with clock.frozen_at(READ_AT):
        signin(world.leader)
        page = client.get("/admin/brief?value=2026-09").get_data(as_text=True)
        assert "2026年9月党委联席会不稳定因素研判" in page
        assert "/admin/brief/cases?value=2026-09&amp;item=criminal" in page
        listing = client.get("/admin/brief/cases?value=2026-09&item=repeat")
        assert listing.status_code == 200
        assert "重复纠纷的案件" in listing.get_data(as_text=True)
        assert client.get("/admin/brief/cases?value=2026-09&item=nothing").status_code == 422
        signin(world.police_handler)
        assert client.get("/admin/brief?value=2026-09").status_code == 403
        assert client.get("/admin/league?value=2026-09").status_code == 403


def test_each_items_preview_of_cases_goes_through_the_access_policy(september, world):
    """The counts are the town's; the few cases an item shows are those its reader may
    see (only the center and leaders open the page today, but the rule is one)."""
    with clock.frozen_at(READ_AT):
        center = briefing.compute(SEPTEMBER, viewer=world.center)
        handler = briefing.compute(SEPTEMBER, viewer=world.police_handler)
        seen = {
            c.id
            for c in db.session.scalars(
                select(Case).where(access.case_filter(world.police_handler))
            )
        }
    assert center.items["group"].cases
    for name, item in handler.items.items():
        assert item.count == center.items[name].count
        assert {c.id for c in item.cases} <= seen
    assert sum(len(i.cases) for i in handler.items.values()) < sum(
        len(i.cases) for i in center.items.values()
    )
