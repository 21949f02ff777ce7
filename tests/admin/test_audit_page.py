"""The auditor reads the log in words: the action's label, the object named (案件 …,
账号 …), the details in Chinese; the filter offers the actions by name."""

from __future__ import annotations

import re

from server.db import db
from server.infra import codes
from tests.factories import PASSWORD
from tests.helpers import new_report


def _rows(page: str) -> str:
    """The text of the log's table body, tags stripped."""
    body = page[page.index("<tbody>") : page.index("</tbody>")]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def test_the_audit_log_shows_labels_and_objects_in_words(client, world, signin):
    case = new_report(world)
    db.session.flush()
    signin(world.center)
    client.get(f"/admin/cases/{case.code}")  # the view (and the informant) are on record
    token = signin(world.security)
    client.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "username": "zhangsan",
            "display_name": "张三",
            "role": "handler",
            "department": str(world.police.id),
            "password": PASSWORD,
        },
    )
    signin(world.auditor)
    rows = _rows(client.get("/admin/audit").get_data(as_text=True))
    assert "查看案件" in rows
    assert f"案件 {codes.display(case.code)}" in rows
    assert "在哪里：后台" in rows
    assert "新建账号" in rows
    assert "账号 zhangsan（张三）" in rows
    assert "角色：处置人员" in rows
    assert "登录" in rows
    for code in ("case.viewed", "user.create", "auth.login", "surface", "handler", "admin"):
        assert code not in rows
    # The filter: a group, or one action, chosen by name.
    page = client.get("/admin/audit?action=user.").get_data(as_text=True)
    assert '<option value="user." selected>账号：全部</option>' in page
    assert "新建账号" in _rows(page)
    assert "查看案件" not in _rows(page)
    only = _rows(client.get("/admin/audit?action=auth.login").get_data(as_text=True))
    assert "登录" in only
    assert "新建账号" not in only
    assert "退出登录" not in only  # one action, not every code that begins so


def test_the_auditor_pages_back_through_the_log_page_by_page(client, world, signin):
    """ "更早的记录" leads to the page before this one, and from there to the one before
    that: the link carries one cursor (with two, the first was read and page two came
    back for ever)."""
    import html

    from admin.audit import PAGE
    from server.trust import audit

    for n in range(2 * PAGE + 5):
        audit.record("auth.login", actor=world.center, object_type="user", object_id=str(n))
    db.session.flush()
    signin(world.auditor)
    url, seen = "/admin/audit?action=auth.login", []
    for _page in range(3):
        page = client.get(url).get_data(as_text=True)
        seen.append(_rows(page))
        found = re.search(r'href="(\?[^"]*)">更早的记录', page)
        if found is None:
            break
        link = html.unescape(found.group(1))
        assert link.count("before=") == 1, link
        url = "/admin/audit" + link
    assert len(seen) == 3
    assert len(set(seen)) == 3  # three different pages, the last the oldest
