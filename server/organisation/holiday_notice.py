"""The State Council's holiday notice (国务院办公厅关于…部分节假日安排的通知), read into days.

The admin confirms a year by pasting the notice's text, or a plain list, on the calendar
page (or `grid-report calendar-confirm YEAR FILE`). Both forms are read:

    春节：2月5日（星期五）至11日（星期四）放假调休，共7天。2月14日（星期日）上班。
    2027-02-05 至 2027-02-11 放假
    2027-02-14 上班

A sentence (up to 。；or a line's end) that says 放假 makes the range it names days off;
one that says 上班 makes every day it names a working day.
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


def _dates(text: str, year: int) -> list[date]:
    """The dates of a piece of text, in order: 2027-02-05, 2月5日, and a range's bare end
    (至11日 takes the month before it)."""
    found: list[date] = []
    for match in re.finditer(rf"{_ISO.pattern}|{_CN.pattern}|{_CN_DAY_ONLY.pattern}", text):
        iso_y, iso_m, iso_d, cn_y, cn_m, cn_d, bare_d = match.groups()
        if iso_y:
            if int(iso_y) != year:
                raise ValidationFailed(f"日期不在{year}年：{match.group(0)}", code="wrong_year")
            found.append(_day(year, iso_m, iso_d, match.group(0)))
        elif cn_m:
            if cn_y and int(cn_y) != year:
                raise ValidationFailed(f"日期不在{year}年：{match.group(0)}", code="wrong_year")
            found.append(_day(year, cn_m, cn_d, match.group(0)))
        elif found:  # 至11日: the month of the date before it
            found.append(_day(year, str(found[-1].month), bare_d, match.group(0)))
    return found


def parse(text: str, year: int) -> Notice:
    """The days of `year` the notice's `text` names; ValidationFailed (in Chinese) when
    it names none, or a day both off and working."""
    notice = Notice(year)
    for sentence in re.split(r"[。；;\n]+", _NOTE.sub("", text or "")):
        sentence = sentence.strip()
        if not sentence:
            continue
        head = re.split(r"[：:]", sentence, maxsplit=1)
        # 二、春节：… names the festival; 一、 and the like are the notice's numbering.
        name = (
            re.sub(r"^[一二三四五六七八九十]+、", "", head[0]).strip()[:20] if len(head) > 1 else ""
        )
        days = _dates(sentence, year)
        if not days:
            continue
        if "放假" in sentence or "休" in sentence.replace("调休", ""):
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
