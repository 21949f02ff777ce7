"""No English on any admin page: every role of the admin signs in to the demo town and
opens every page its menu links to (and a case, its printable file, the statistics'
lists), and the text a person sees is read for English words. So are the pages of a
refusal: a form past its CSRF token, an address that leads nowhere, a wrong method.

What may stay is data, not wording: case codes, category and village codes, the
addresses on the QR posters, account usernames (what people type to sign in), IP
addresses, file names' extensions (.xlsx), and the names of file formats (PNG, SVG)
and paper (A4).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from flask import current_app

from server.db import db
from server.models import Role
from tests.admin.conftest import csrf_from

# The text of these tags is not shown.
SILENT = {"script", "style", "template", "noscript"}
# Attributes a person reads on the page: the hint in an empty box, a button's words, an
# image's stand-in.
SHOWN_ATTRIBUTES = {"placeholder", "alt"}
# Words that must stay as they are: file formats (a signed scan may be a PDF) and a paper size.
ALLOWED = {"PNG", "SVG", "PDF", "A4"}
# Data that is written in Latin letters by nature, taken out before words are looked for.
DATA = [
    re.compile(r"https?://\S+"),  # the villages' QR addresses
    re.compile(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}\b"),  # a case code, as shown
    re.compile(r"\b[0-9A-Z]{12}\b"),  # a case code, as stored (the print's file name)
    re.compile(r"\b[A-Z]\d{2}\b"),  # a category code: D02, H01
    re.compile(r"\bV\d{2}(-G\d+)?\b"),  # a village's or grid's code
    re.compile(r"\b\d{4}-Q[1-4]\b"),  # a quarter, as the statistics' box takes it
    re.compile(r"\.(xlsx|pdf|png|svg)\b"),  # a file name's extension (a ledger's file)
]


class _Visible(HTMLParser):
    """The text a person sees on a page (and the few attributes they read)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._silent = 0

    def handle_starttag(self, tag, attrs):
        if tag in SILENT:
            self._silent += 1
        values = dict(attrs)
        self.parts += [values[a] or "" for a in SHOWN_ATTRIBUTES if a in values]
        if tag == "input" and values.get("type") in {"submit", "button"}:
            self.parts.append(values.get("value") or "")

    def handle_endtag(self, tag):
        if tag in SILENT and self._silent:
            self._silent -= 1

    def handle_data(self, data):
        if not self._silent:
            self.parts.append(data)


def english_words(page: str, usernames: set[str]) -> set[str]:
    """The English words in the visible text of `page`, data aside."""
    reader = _Visible()
    reader.feed(page)
    text = " ".join(reader.parts)
    for pattern in DATA:
        text = pattern.sub(" ", text)
    words = set()
    for token in re.findall(r"[A-Za-z0-9_.@-]*[A-Za-z]{2,}[A-Za-z0-9_.@-]*", text):
        if token in usernames or token.strip(".-") in usernames:
            continue
        words |= {w for w in re.findall(r"[A-Za-z]{2,}", token) if w not in ALLOWED}
    return words


def _links(page: str, pattern: str) -> list[str]:
    return list(dict.fromkeys(re.findall(pattern, page)))


def _menu(page: str) -> list[str]:
    """The admin addresses the page's menu links to."""
    nav = re.search(r"<nav.*?</nav>", page, re.S)
    assert nav, "every signed-in page has its menu"
    return _links(nav.group(0), r'href="(/admin/[^"]*)"')


@pytest.fixture
def town(demo):
    """The demo town, with messages the sender gave up on (the 发送失败 page lists them
    with their reasons, which are stored as codes)."""
    from sqlalchemy import select

    from server.models import Case, Notification

    case = db.session.scalars(select(Case).limit(1)).one()
    for error in ("wechat_unavailable", "ConnectionError", "43101", "SomethingElse"):
        db.session.add(
            Notification(
                user_id=demo["police"].id,
                channel="wechat",
                kind="dispatch",
                case_id=case.id,
                title="新派遣案件",
                body="……",
                status="dead",
                attempts=6,
                last_error=error,
            )
        )
    db.session.flush()
    return demo


ROLES = ["center", "leader", "police", "admin", "security", "auditor"]


@pytest.mark.parametrize("username", ROLES)
def test_no_english_on_any_page_of_the_menu(client, town, username):
    user = town[username]
    usernames = set(town)
    password = current_app.config["DEMO_PASSWORD"]
    token = csrf_from(client.get("/admin/login").get_data(as_text=True))
    signed_in = client.post(
        "/admin/login",
        data={"csrf_token": token, "username": username, "password": password},
        follow_redirects=True,
    )
    assert signed_in.status_code == 200
    home = signed_in.get_data(as_text=True)
    pages = _menu(home)
    if user.role in (Role.CENTER, Role.LEADER, Role.HANDLER):
        case = _links(home, r'href="(/admin/cases/[0-9A-Z]+)"')
        assert case, "the queue lists a case to open"
        pages += [case[0], case[0] + "/print", "/admin/?status=closed"]
        # Search: words, a phone, and a query it refuses.
        pages += ["/admin/search?q=纠纷", "/admin/search?q=138-0000-0000", "/admin/search?q="]
    if user.role in (Role.CENTER, Role.LEADER):  # the system admin's figures list no cases
        dashboard = client.get("/admin/dashboard").get_data(as_text=True)
        pages += _links(dashboard, r'href="(/admin/counted\?[^"]*)"')[:3]
        # The joint meeting's brief links each item to its cases; the 考核 to its 通报.
        brief = client.get("/admin/brief").get_data(as_text=True)
        pages += _links(brief, r'href="(/admin/brief/cases\?[^"]*)"')[:3]
        pages += ["/admin/league/bulletin"]
    if user.role in (Role.ADMIN, Role.SECURITY_ADMIN):  # linked from 村与二维码 / 账号
        pages += ["/admin/setup"]
    if user.role in (Role.ADMIN, Role.CENTER):
        pages += ["/admin/villages/posters"]
    pages += ["/admin/password"]
    found = {}
    for url in pages:
        response = client.get(url.replace("&amp;", "&"))
        assert response.status_code == 200, url
        words = english_words(response.get_data(as_text=True), usernames)
        if words:
            found[url] = sorted(words)
    assert len(pages) >= 3
    assert not found, f"English on the pages of {username}: {found}"


def test_no_english_when_a_page_refuses(client, town):
    usernames = set(town)
    refusals = {
        "signed out": client.get("/admin/login"),
        "a form without its CSRF token": client.post("/admin/login", data={"username": "x"}),
        "an address that leads nowhere": client.get("/admin/no-such-page"),
        "a wrong method": client.post("/admin/audit"),
    }
    password = current_app.config["DEMO_PASSWORD"]
    token = csrf_from(refusals["signed out"].get_data(as_text=True))
    client.post(
        "/admin/login", data={"csrf_token": token, "username": "center", "password": password}
    )
    refusals["a stale form, signed in"] = client.post("/admin/inbox/read", data={})
    refusals["a case that is not there"] = client.get("/admin/cases/AAAABBBBCCCC")
    refusals["an action that is not there"] = client.post(
        "/admin/cases/AAAABBBBCCCC/actions/fly",
        data={"csrf_token": csrf_from(client.get("/admin/").get_data(as_text=True))},
    )
    assert refusals["a form without its CSRF token"].status_code == 400
    assert refusals["an address that leads nowhere"].status_code == 404
    assert refusals["a wrong method"].status_code == 405
    assert refusals["a wrong method"].headers["Allow"]
    found = {
        why: sorted(words)
        for why, response in refusals.items()
        if (words := english_words(response.get_data(as_text=True), usernames))
    }
    assert not found, found
    assert "页面已过期" in refusals["a stale form, signed in"].get_data(as_text=True)
    assert "找不到页面" in refusals["an address that leads nowhere"].get_data(as_text=True)


def test_the_reader_finds_english_and_lets_data_pass():
    page = (
        '<p>案件 3J9X-7AP7-VHNH · D02 · <a href="/x">CSRF 校验失败</a> 2wd</p>'
        '<input placeholder="Search"><script>var English = 1;</script>'
        "<td>center</td><td>http://127.0.0.1:5000/q/ABC</td><td>PNG</td>"
    )
    assert english_words(page, {"center"}) == {"CSRF", "wd", "Search"}


def test_no_english_on_the_papers_of_a_case(client, world, signin):
    """The case file's pages: each kind of paper, to edit and printed, and the case page
    that lists them (issue 19)."""
    from server.casefile import documents
    from server.cases import workflow
    from server.models import DocumentKind
    from tests.helpers import new_report

    case = new_report(world, "D02")
    workflow.apply(case, "accept", actor=world.center)
    workflow.apply(case, "dispatch", actor=world.center, lead_department=world.committee1.id)
    papers = [documents.make(case, kind, actor=world.center) for kind in DocumentKind]
    documents.edit(papers[3], {}, actor=world.center, terms=[documents.TermDraft("赔偿八百元。")])
    usernames = {u.username for u in vars(world).values() if hasattr(u, "username")}
    found = {}
    for user in (world.center, world.committee1_handler, world.leader):
        signin(user)
        pages = [f"/admin/cases/{case.code}"]
        for paper in papers:
            pages += [
                f"/admin/cases/{case.code}/documents/{paper.id}",
                f"/admin/cases/{case.code}/documents/{paper.id}/print",
            ]
        for url in pages:
            response = client.get(url)
            assert response.status_code == 200, url
            if words := english_words(response.get_data(as_text=True), usernames):
                found[f"{user.username} {url}"] = sorted(words)
    assert not found, found
