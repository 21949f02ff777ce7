"""Next year's calendar: provisional by rule until the admin confirms it from the State
Council's notice, and said so on the admin's pages from 1 November."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from server.db import db
from server.infra import clock
from server.infra.errors import ValidationFailed
from server.models import AuditEntry, CalendarDay
from server.organisation.deadlines import BY_RULE, CONFIRMED, load_calendar

NOTICE_2027 = """国务院办公厅关于2027年部分节假日安排的通知
一、元旦：1月1日（星期五）放假，与周末连休。
二、春节：2月5日（星期五）至11日（星期四）放假调休，共7天。2月14日（星期日）、2月20日（星期六）上班。
三、清明节：4月3日（星期六）至5日（星期一）放假，共3天。
七、国庆节：10月1日（星期五）至7日（星期四）放假调休，共7天。9月26日（星期日）、10月9日（星期六）上班。
"""


def test_the_notice_is_read_into_days_off_and_working_days():
    from server.organisation import holiday_notice

    notice = holiday_notice.parse(NOTICE_2027, 2027)
    assert [d.day for d in sorted(notice.off) if d.month == 2] == [5, 6, 7, 8, 9, 10, 11]
    assert notice.off[date(2027, 2, 5)] == "春节"
    assert sorted(notice.work) == [
        date(2027, 2, 14),
        date(2027, 2, 20),
        date(2027, 9, 26),
        date(2027, 10, 9),
    ]
    plain = holiday_notice.parse("2027-02-05 至 2027-02-11 放假\n2027-02-14 上班", 2027)
    assert (len(plain.off), sorted(plain.work)) == (7, [date(2027, 2, 14)])
    for bad, message in (
        ("随便写点什么", "没有读到"),
        ("2026-02-05 放假", "不在2027年"),
        ("2月30日放假", "日期不正确"),
    ):
        with pytest.raises(ValidationFailed, match=message):
            holiday_notice.parse(bad, 2027)


def test_the_admin_sees_the_warning_and_confirms_the_year(
    client, world, signin, library_stops_at_2026
):
    november = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    with clock.frozen_at(november):
        token = signin(world.admin)
        page = client.get("/admin/calendar").get_data(as_text=True)
        assert "2027年的节假日安排尚未确认" in page
        assert "尚未确认：按节日规则推算" in page
        bad = client.post(
            "/admin/calendar", data={"csrf_token": token, "year": "2027", "notice": "春节放假七天"}
        )
        assert bad.status_code == 422
        assert "春节放假七天" in bad.get_data(as_text=True)  # the paste is kept
        client.post(
            "/admin/calendar", data={"csrf_token": token, "year": "2027", "notice": NOTICE_2027}
        )
        page = client.get("/admin/calendar").get_data(as_text=True)
    assert "2027年的节假日安排尚未确认" not in page
    assert "已按国务院通知确认" in page
    calendar = load_calendar()
    assert calendar.year_source(2027) == CONFIRMED
    assert calendar.is_workday(date(2027, 2, 14))  # a make-up Sunday, from the notice
    assert not calendar.is_workday(date(2027, 2, 11))
    rows = db.session.scalars(select(CalendarDay).where(CalendarDay.day >= date(2027, 1, 1)))
    assert len(list(rows)) == 1 + 7 + 3 + 7 + 4
    assert (
        db.session.scalar(
            select(AuditEntry.action).where(AuditEntry.action == "calendar.confirm_year")
        )
        == "calendar.confirm_year"
    )


def test_the_dashboard_warns_from_november_only(client, world, signin, library_stops_at_2026):
    signin(world.leader)
    for moment, warned in (
        (datetime(2026, 10, 20, 2, 0, tzinfo=UTC), False),
        (datetime(2026, 11, 1, 2, 0, tzinfo=UTC), True),
    ):
        with clock.frozen_at(moment):
            page = client.get("/admin/dashboard").get_data(as_text=True)
        assert ("2027年的节假日安排尚未确认" in page) is warned
    assert load_calendar().year_source(2027) == BY_RULE


def test_the_year_is_confirmed_from_the_command_line(runner, tmp_path, library_stops_at_2026):
    notice = tmp_path / "2027.txt"
    notice.write_text(NOTICE_2027, encoding="utf-8")
    result = runner.invoke(args=["calendar-confirm", "2027", str(notice)])
    assert result.exit_code == 0, result.output
    assert "2027年的节假日安排已确认" in result.output
    assert load_calendar().year_source(2027) == CONFIRMED


def test_in_january_the_year_still_on_the_rules_is_warned_about_and_offered(
    client, world, signin, library_stops_at_2026
):
    """4 January 2027, nobody has confirmed 2027: its deadlines run on the festival rules
    alone, so every admin page says so, and the calendar page offers 2027 (not 2028) to
    confirm: the notice's dates without a year are read as the year offered."""
    import re

    shanghai_morning = datetime(2027, 1, 4, 2, 0, tzinfo=UTC)
    with clock.frozen_at(shanghai_morning):
        token = signin(world.admin)
        assert "2027年的节假日安排尚未确认" in client.get("/admin/dashboard").get_data(as_text=True)
        page = client.get("/admin/calendar").get_data(as_text=True)
        offered = re.search(r'name="year"[^>]*value="(\d+)"', page).group(1)
        assert offered == "2027"
        client.post(
            "/admin/calendar",
            data={"csrf_token": token, "year": offered, "notice": NOTICE_2027},
        )
        assert "尚未确认" not in client.get("/admin/dashboard").get_data(as_text=True)
    calendar = load_calendar()
    assert calendar.year_source(2027) == CONFIRMED
    assert calendar.year_source(2028) == BY_RULE
    assert not calendar.is_workday(date(2027, 2, 8))


def test_a_notice_for_another_year_is_refused():
    from server.organisation import holiday_notice

    with pytest.raises(ValidationFailed, match="这是2027年的通知") as refused:
        holiday_notice.parse(NOTICE_2027, 2028)
    assert refused.value.code == "wrong_year"


NOTICE_2019 = """国务院办公厅关于2019年部分节假日安排的通知
一、元旦：2018年12月30日至2019年1月1日放假调休，共3天。2018年12月29日（星期六）上班。
二、春节：2月4日至10日放假调休，共7天。2月2日（星期六）、2月3日（星期日）上班。

国务院办公厅
2018年12月6日
"""


def test_the_notice_as_published_is_read_with_its_date_and_a_new_year_begun_in_december(
    world, library_stops_at_2026
):
    """Pasted whole: the notice's own date at its foot (the year before) is not a holiday,
    and a New Year holiday beginning on 30 December is read as that December's days,
    confirmed with the year whose notice names them (a correction there already is
    replaced, not a clash)."""
    from server.organisation import holiday_notice, management

    notice = holiday_notice.parse(NOTICE_2019, 2019)
    assert sorted(d for d in notice.off if d.month in (12, 1)) == [
        date(2018, 12, 30),
        date(2018, 12, 31),
        date(2019, 1, 1),
    ]
    assert date(2018, 12, 29) in notice.work
    assert date(2018, 12, 6) not in notice.off
    assert date(2018, 12, 6) not in notice.work
    db.session.add(CalendarDay(day=date(2018, 12, 31), workday=True, name="旧的更正"))
    db.session.flush()
    management.confirm_year(2019, NOTICE_2019, actor=world.admin)
    db.session.flush()
    calendar = load_calendar()
    assert not calendar.is_workday(date(2018, 12, 31))
    assert calendar.is_workday(date(2018, 12, 29))
    assert not calendar.is_workday(date(2019, 2, 8))
