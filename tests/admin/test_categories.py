"""The category page takes each time limit as a number and a unit chosen from a list,
stores it as before (2wd), and refuses a bad number in Chinese."""

from __future__ import annotations

import re

import pytest

from server.db import db
from server.models import Step
from tests.factories import category

STEPS = [s.value for s in Step]


def _form(token, **limits):
    """A full save of H01 with every deadline 2 工作日, save the `limits` given
    ({field: value}: due_handle="10", due_handle_unit="d", warn_handle="", ...)."""
    data = {
        "csrf_token": token,
        "code": "H01",
        "name": "火灾隐患",
        "default_risk_level": "red",
        "active": "yes",
    }
    for step in STEPS:
        data |= {f"due_{step}": "2", f"due_{step}_unit": "wd"}
        data |= {f"warn_{step}": "", f"warn_{step}_unit": "wd"}
    return data | limits


def _limits():
    db.session.expire_all()
    return {row.step.value: (row.warn, row.due) for row in category("H01").time_limits}


def test_limits_are_a_number_and_a_unit_and_stored_as_before(client, world, signin):
    token = signin(world.admin)
    page = client.get("/admin/categories").get_data(as_text=True)
    assert "wd" not in re.sub(r"<[^>]+>", " ", page)  # no codes to learn: a list of units
    for word in ("小时", "工作日", "自然日", "分钟"):
        assert f">{word}</option>" in page
    saved = client.post(
        "/admin/categories",
        data=_form(
            token,
            warn_handle="5",
            due_handle="１０",  # typed with a Chinese input method: full-width digits
            due_handle_unit="wd",
            warn_follow_up="5",
            warn_follow_up_unit="d",
            due_follow_up="7",
            due_follow_up_unit="d",
            due_accept="30",
            due_accept_unit="m",
        ),
        follow_redirects=True,
    )
    assert "已保存" in saved.get_data(as_text=True)
    limits = _limits()
    assert limits["handle"] == ("5wd", "10wd")
    assert limits["follow_up"] == ("5d", "7d")
    assert limits["accept"] == (None, "30m")
    # The page shows them back as numbers with their unit selected.
    page = client.get("/admin/categories").get_data(as_text=True)
    form = page[page.index('value="H01"') :]
    assert re.search(r'name="due_handle" value="10"', form)
    assert re.search(r'name="due_follow_up_unit"[^>]*>.*?<option value="d" selected>', form)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"due_handle": "abc"}, "处置的期限：时限须填 1 到 9999 之间的整数"),
        ({"due_handle": "0"}, "处置的期限：时限须填 1 到 9999 之间的整数"),
        ({"due_handle": "-3"}, "处置的期限：时限须填 1 到 9999 之间的整数"),
        ({"due_handle": "10000"}, "处置的期限：时限须填 1 到 9999 之间的整数"),
        ({"due_handle": "2.5"}, "处置的期限：时限须填 1 到 9999 之间的整数"),
        ({"due_handle": ""}, "处置须有期限"),
        ({"due_handle_unit": "weeks"}, "请选择时限的单位"),
        ({"warn_handle": "x"}, "处置的黄色提醒：时限须填"),
        ({"warn_handle": "3", "due_handle": "3"}, "处置的黄色提醒须早于期限"),
    ],
)
def test_a_bad_limit_is_refused_in_chinese(client, world, signin, fields, words):
    token = signin(world.admin)
    before = _limits()
    page = client.post("/admin/categories", data=_form(token, **fields), follow_redirects=True)
    text = page.get_data(as_text=True)
    assert words in text
    assert "已保存" not in text
    assert _limits() == before
