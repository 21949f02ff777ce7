"""The State Council's holiday notice (国务院办公厅关于…部分节假日安排的通知), read into days.

The admin confirms a year by pasting the notice's text, or a plain list, on the calendar
page (or `grid-report calendar-confirm YEAR FILE`). Both forms are read:

    春节：2月5日（星期五）至11日（星期四）放假调休，共7天。2月14日（星期日）上班。
    2027-02-05 至 2027-02-11 放假
    2027-02-14 上班

A sentence (up to 。；or a line's end) that says 放假 makes the range it names days off;
one that says 上班 makes every day it names a working day; the others (the notice's date
at its foot, 2024年11月12日) are not read. A notice for another year than the one chosen
(its title: 关于2028年…) is refused. A New Year holiday may begin in the December before
(2018年12月30日至2019年1月1日): those days are read as the previous year's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from server.infra.errors import ValidationFailed

_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_CN = re.compile(r"(?:(\d{4})年)?(\d{1,2})月(\d{1,2})日")
_CN_DAY_ONLY = re.compile(r"(\d{1,2})日")
_RANGE_SEPARATOR = re.compile(r"\s*(?:至|到|~|～|—|–)\s*")
_NOTE = re.compile(r"[（(][^）)]*[）)]")  # （星期五）, （周日）


@dataclass
class Notice:
    """The days a notice names: off (放假) and working (上班)."""

    year: int
    off: dict[date, str] = field(default_factory=dict)  # day -> the festival's name
    work: dict[date, str] = field(default_factory=dict)


def _day(year: int, month: str, day: str, where: str) -> date:
    try:
        return date(year, int(month), int(day))
    except ValueError:
        raise ValidationFailed(f"日期不正确：{where}", code="invalid_date") from None


def _year_of(written: str | None, month: str, year: int, where: str) -> int:
    """The year of a date written with `written` as its year (None: the notice's): the
    notice's, or the December just before it (a New Year holiday beginning then)."""
    if written is None or int(written) == year:
        return year
    if int(written) == year - 1 and int(month) == 12:
        return year - 1
    raise ValidationFailed(f"日期不在{year}年：{where}", code="wrong_year")


def _dates(text: str, year: int) -> list[date]:
    """The dates of a piece of text, in order: 2027-02-05, 2月5日, and a range's bare end
    (至11日 takes the month and year of the date before it)."""
    found: list[date] = []
    for match in re.finditer(rf"{_ISO.pattern}|{_CN.pattern}|{_CN_DAY_ONLY.pattern}", text):
        iso_y, iso_m, iso_d, cn_y, cn_m, cn_d, bare_d = match.groups()
        where = match.group(0)
        if iso_y or cn_m:
            month, day = (iso_m, iso_d) if iso_y else (cn_m, cn_d)
            found.append(_day(_year_of(iso_y or cn_y, month, year, where), month, day, where))
        elif found:  # 至11日: the month of the date before it
            found.append(_day(found[-1].year, str(found[-1].month), bare_d, where))
    return found


_TITLE_YEAR = re.compile(r"关于\s*(\d{4})\s*年")


def parse(text: str, year: int) -> Notice:
    """The days of `year` the notice's `text` names; ValidationFailed (in Chinese) when
    it names none, or a day both off and working."""
    notice = Notice(year)
    titled = _TITLE_YEAR.search(text or "")
    if titled and int(titled.group(1)) != year:
        raise ValidationFailed(
            f"这是{titled.group(1)}年的通知，与所选的{year}年不符，请核对年份。",
            code="wrong_year",
        )
    for sentence in re.split(r"[。；;\n]+", _NOTE.sub("", text or "")):
        sentence = sentence.strip()
        if not sentence:
            continue
        head = re.split(r"[：:]", sentence, maxsplit=1)
        # 二、春节：… names the festival; 一、 and the like are the notice's numbering.
        name = (
            re.sub(r"^[一二三四五六七八九十]+、", "", head[0]).strip()[:20] if len(head) > 1 else ""
        )
        off = "放假" in sentence or "休" in sentence.replace("调休", "")
        if not off and not ("上班" in sentence or sentence.endswith("班")):
            continue  # the notice's title, its date at the foot, its closing words
        days = _dates(sentence, year)
        if not days:
            continue
        if off:
            parts = _RANGE_SEPARATOR.split(sentence, maxsplit=1)
            first, last = days[0], days[1] if len(parts) == 2 and len(days) > 1 else days[0]
            if last < first:
                raise ValidationFailed(f"日期范围不正确：{sentence}", code="invalid_range")
            day = first
            while day <= last:
                notice.off[day] = name or "放假"
                day += timedelta(days=1)
        elif "上班" in sentence or sentence.endswith("班"):
            for day in days:
                notice.work[day] = (name or "调休") + "上班"
    both = sorted(set(notice.off) & set(notice.work))
    if both:
        raise ValidationFailed(f"{both[0]} 既是放假又是上班，请核对。", code="conflicting_days")
    if not notice.off:
        raise ValidationFailed(
            f"没有读到{year}年的放假日期。请粘贴国务院办公厅通知的正文，"
            "或每行一条“2027-02-05 至 2027-02-11 放假”“2027-02-14 上班”。",
            code="nothing_read",
        )
    return notice
