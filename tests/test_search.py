"""Search (server/cases/search.py, admin/search.py): every kind of query, who finds what,
and that identity is searched and shown for the center only and never logged."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from server.cases import search, tracking, workflow
from server.cases.operations import Party, ReportDraft, Reporter, submit_report
from server.db import db
from server.infra import codes
from server.infra.errors import ValidationFailed
from server.models import AuditEntry, CaseIdentityDigest, CaseSearchText
from server.trust import identity
from tests.factories import category
from tests.helpers import new_report

PHONE = "13800138000"
PARTY_PHONE = "13912345678"
SECRET = "7Q2M9XPD3R4AK7QM3XPD9R2AB1"  # a villager's tracking code


@pytest.fixture
def town(world):
    """A named villager's land dispute in 东村, and a leak in 西村."""
    land = submit_report(
        ReportDraft(
            village=world.v1,
            category=category("D02"),
            source="qr",
            description="张家与李家因土地边界纠纷多次争吵，村里调解未果。",
            place_text="东村三组路口",
            parties=[Party("王五", phone="139-1234-5678"), Party("赵六", side="respondent")],
            reporter=Reporter(anonymous=False, name="刘 备", phone=PHONE, wechat="LiuBei_wx"),
        ),
        actor=None,
        tracking_hash=tracking.secret_hash(SECRET),
    )
    leak = new_report(
        world,
        "D02",
        village=world.v2,
        description="三楼卫生间漏水，楼下天花板渗水。",
        place_text="西村卫生所宿舍",
        parties=[Party("钱七"), Party("孙八", side="respondent")],
    )
    return land, leak


def found(user, query, **kwargs) -> list[str]:
    return [hit.case.code for hit in search.search(user, query, **kwargs).hits]


def test_a_case_s_words_are_kept_as_overlapping_bigrams():
    assert search.terms("邻居漏水") == ["邻居", "居漏", "漏水", "水"]
    # Runs of letters and digits, folded (full width, upper case); separators split them.
    assert search.terms("３号楼，ＡＢ") == ["3号", "号楼", "楼", "ab", "b"]
    assert search.body_of(7, "漏水", None, ["张三"]) == "_v7 漏水 水 张三 三"
    # No word makes a village's term: "v7" in a description is no village.
    assert search.terms("v7 _v7") == ["v7", "7", "v7", "7"]


def test_a_case_number_goes_straight_to_the_case(world, town):
    land, _leak = town
    for typed in (land.code, codes.display(land.code), codes.display(land.code).lower()):
        assert search.search(world.center, typed).direct == land
    # Not for someone who may not see it: nothing found, nothing said of it.
    assert search.search(world.worker2, land.code).direct is None
    assert found(world.worker2, land.code) == []


def test_a_tracking_code_goes_straight_to_the_case(world, town):
    land, _leak = town
    for typed in (SECRET, tracking.display(SECRET), tracking.display(SECRET).lower()):
        results = search.search(world.leader, typed)
        assert (results.kind, results.direct) == ("tracking", land)


@pytest.mark.parametrize(
    "typed",
    [
        PHONE,
        "138 0013 8000",
        "138-0013-8000",
        "+86 138 0013 8000",
        "+8613800138000",
        "0086 13800138000",
        "(+86) 138-0013-8000",
        "１３８００１３８０００",
    ],
)
def test_the_center_finds_an_informant_by_phone_however_it_is_written(world, town, typed):
    land, _leak = town
    results = search.search(world.center, typed)
    assert results.kind == "phone"
    assert [(h.case.code, h.matched) for h in results.hits] == [(land.code, "举报人电话")]


def test_the_center_finds_a_party_by_phone(world, town):
    land, _leak = town
    assert [(h.case, h.matched) for h in search.search(world.center, "139 1234 5678").hits] == [
        (land, "当事人电话")
    ]


def test_the_center_finds_an_informant_by_name_and_wechat_id(world, town):
    land, _leak = town
    for typed, matched in (
        ("刘备", "举报人姓名"),
        ("刘 备", "举报人姓名"),
        ("liubei_WX", "举报人微信号"),
    ):
        hits = search.search(world.center, typed).hits
        assert [(h.case, h.matched) for h in hits] == [(land, matched)]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("土地", {"land"}),  # a 2-character word
        ("漏水", {"leak"}),
        ("渗", {"leak"}),  # one character
        ("纠", {"land"}),
        ("土地边界", {"land"}),  # a longer phrase, exact
        ("边界土地", set()),  # the same bigrams apart are no match
        ("土地 争吵", {"land"}),  # every word, anywhere
        ("土地 漏水", set()),
        ("卫生所", {"leak"}),  # the place
        ("三组路口", {"land"}),
        ("王五", {"land"}),  # a party's name
        ("孙八", {"leak"}),
        ("张家，李家", {"land"}),
        ("天花板渗水了", set()),
        ("土 争吵", {"land"}),  # one character beside a word
        ("渗 争吵", set()),
        ("漏 渗", {"leak"}),  # characters alone
        ("界", {"land"}),  # the last character of a run
        ("v", set()),  # the letter of the village's term is no word
    ],
)
def test_words_of_the_description_place_and_parties(world, town, typed, expected):
    land, leak = town
    codes_of = {"land": land.code, "leak": leak.code}
    for user in (world.center, world.leader):
        assert set(found(user, typed)) == {codes_of[n] for n in expected}, (user, typed)
    # A grid worker finds the same among their village's cases (东村's land, 西村's leak).
    for user, theirs in ((world.worker1, "land"), (world.worker2, "leak")):
        assert set(found(user, typed)) == {codes_of[theirs]} & {codes_of[n] for n in expected}


def test_a_single_character_is_a_prefix_but_for_a_reader_held_to_villages(world, town, session):
    """On PostgreSQL a prefix ('渗':*) makes GIN gather every term starting with it in the
    whole table: a grid worker's 1-character search took 632 ms at ten million cases.
    Their villages narrow the index; the character is checked on what they narrow to
    (a reader of many cases: see the next test). For the center, beside a longer word it
    stays a prefix: a common word read row by row to find a rare character would cost
    more than the prefix."""
    from sqlalchemy import event

    asked = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        asked.append(str(parameters))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", keep)
    try:
        assert found(world.worker2, "渗") != []
        worker = list(asked)
        asked.clear()
        assert found(world.center, "渗 漏水") != []
        with_a_word = list(asked)
        asked.clear()
        assert found(world.center, "渗") != []
        alone = list(asked)
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    if engine.dialect.name == "postgresql":
        assert not any("':*" in p for p in worker), worker
        assert any("'渗':*" in p for p in alone), alone
        assert any("'渗':*" in p for p in with_a_word), with_a_word


def test_a_grid_worker_finds_only_their_villages_cases(world, town):
    land, leak = town
    assert found(world.worker1, "土地") == [land.code]
    assert found(world.worker1, "漏水") == []
    assert found(world.worker2, "漏水") == [leak.code]
    assert found(world.worker1, "卫生所") == []


def test_a_handler_finds_only_what_was_sent_to_their_department(world, town):
    land, _leak = town
    assert found(world.justice_handler, "土地") == []
    workflow.apply(land, "accept", actor=world.center)
    workflow.apply(land, "dispatch", actor=world.center, lead_department=world.justice.id)
    assert found(world.justice_handler, "土地") == [land.code]
    assert found(world.police_handler, "土地") == []


def body(case) -> list[str]:
    return db.session.get(CaseSearchText, case.id).body.split(" ")


def test_every_department_a_case_was_ever_sent_to_finds_it(world, town):
    """A case's words carry the term of each department it was sent to, once, in that
    order: the lead, a co-handler, a co-handler added later (调整协办), a new lead
    (改派), and the first lead again. A department keeps the case it was sent before."""
    land, _leak = town
    w = world
    workflow.apply(land, "accept", actor=w.center)
    workflow.apply(
        land, "dispatch", actor=w.center, lead_department=w.justice.id, co_departments=[w.police.id]
    )
    workflow.apply(
        land,
        "change_co_handlers",
        actor=w.center,
        co_departments=[w.police.id, w.safety.id],
        reason="需安监办协助",
    )
    for lead in (w.enforcement, w.justice):
        workflow.apply(land, "reassign", actor=w.center, lead_department=lead.id, reason="改派")
    sent = [w.justice, w.police, w.safety, w.enforcement]
    assert [t for t in body(land) if t.startswith("_d")] == [f"_d{d.id}" for d in sent]
    for handler in (w.justice_handler, w.police_handler, w.safety_handler, w.enforcement_handler):
        assert found(handler, "土地") == [land.code]
        assert found(handler, "土") == [land.code]
        assert found(handler, "土地边界") == [land.code]
    assert found(w.committee1_handler, "土地") == []


def test_a_handler_asks_the_index_for_their_department_s_cases(world, town, session):
    """The department's term goes to the index with the words (on PostgreSQL in the
    tsquery, on SQLite in the FTS5 query): the index finds their cases, not the town's.
    Without it a word common elsewhere was sought in every case holding it (over 15 s a
    query at ten million cases)."""
    from sqlalchemy import event

    land, _leak = town
    workflow.apply(land, "accept", actor=world.center)
    workflow.apply(land, "dispatch", actor=world.center, lead_department=world.police.id)
    asked = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        if " MATCH " in statement or "@@" in statement:  # a question to the index
            asked.append(str(parameters))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", keep)
    try:
        assert found(world.police_handler, "纠纷") == [land.code]
        assert found(world.police_handler, "漏水") == []
        assert found(world.police_handler, "纠") == [land.code]
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    term = f"_d{world.police.id}"
    assert asked
    assert all(term in p for p in asked), asked
    assert any("纠纷" in p for p in asked), asked
    assert any("漏水" in p for p in asked), asked


@pytest.mark.parametrize("many", [False, True])
def test_one_character_is_asked_of_the_index_for_the_rest_of_many_cases(
    world, town, session, monkeypatch, many
):
    """A reader held to villages or a department has a single character checked on their
    newest cases; in the last window (the rest of the ids), a reader of many cases has a
    query of single characters asked of the index as a prefix instead: checked on every
    case of a justice office of 311,000, a character it had none of took 17 s a query at
    ten million cases. Beside a longer word, the word narrows their cases: checked."""
    from sqlalchemy import event

    land, leak = town
    workflow.apply(land, "accept", actor=world.center)
    workflow.apply(land, "dispatch", actor=world.center, lead_department=world.police.id)
    if many:
        monkeypatch.setattr(search, "CHECKED_CASES", 0)
    # Two windows however few the ids: a newest one (bucket 1, empty here) and the rest.
    monkeypatch.setattr(search, "_windows", lambda top: iter([(1, 1), (0, top)]))
    asked = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        if "@@" in statement:
            asked.append(str(parameters))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", keep)
    try:
        for user, term, query, expected in (
            (world.police_handler, f"_d{world.police.id}", "界", [land.code]),
            (world.police_handler, f"_d{world.police.id}", "鑫", []),
            (world.worker2, f"_v{world.v2.id}", "渗", [leak.code]),
            (world.police_handler, f"_d{world.police.id}", "界 土地", [land.code]),
            (world.worker2, f"_v{world.v2.id}", "渗 漏水", [leak.code]),
        ):
            asked.clear()
            assert found(user, query) == expected, query
            if engine.dialect.name != "postgresql":
                continue
            newest, rest = asked
            assert term in newest
            assert term in rest
            assert "':*" not in newest, newest
            if many and " " not in query:
                assert f"'{query}':*" in rest, rest
            else:
                assert "':*" not in rest, rest
    finally:
        event.remove(engine, "before_cursor_execute", keep)


def test_a_district_department_finds_what_the_district_sent_it(world, towns):
    """The district's center sends an escalated case to a district department (区直部门),
    whose handler, of no town, finds it; the other town's handlers do not."""
    case = new_report(world, description="两个村为灌溉用水争执，聚集二十余人。")
    workflow.apply(case, "accept", actor=world.center)
    workflow.apply(case, "escalate", actor=world.center, reason="跨村纠纷，需区级协调。")
    assert found(towns["bureau"], "灌溉") == []
    workflow.apply(
        case, "dispatch", actor=towns["district"], lead_department=towns["district_department"].id
    )
    assert found(towns["bureau"], "灌溉") == [case.code]
    assert found(towns["bureau"], "灌") == [case.code]
    assert found(towns["police"], "灌溉") == []


def test_a_leader_finds_by_words_but_not_by_identity(world, town):
    land, _leak = town
    assert found(world.leader, "土地边界") == [land.code]
    for typed in (PHONE, "+86 138-0013-8000", PARTY_PHONE, "刘备", "LiuBei_wx"):
        assert found(world.leader, typed) == [], typed
    assert search.search(world.leader, PHONE).note == "按电话号码查找仅限调处中心。"


def test_a_phone_is_never_looked_up_among_the_words(world):
    """A phone someone wrote into a description does not lead a leader to the case."""
    new_report(world, description=f"对方电话{PHONE}，多次骚扰。")
    assert found(world.leader, PHONE) == []
    assert found(world.leader, "骚扰") != []


def test_a_new_report_is_found_at_once(world, town):
    case = new_report(
        world,
        description="鱼塘承包到期后双方对补偿款有争议",
        reporter=Reporter(anonymous=False, phone="13700001111"),
        actor=None,
        source="qr",
    )
    assert found(world.worker1, "鱼塘") == [case.code]
    assert found(world.center, "137-0000-1111") == [case.code]


def test_results_come_a_page_at_a_time_newest_first(world):
    cases = [new_report(world, description=f"第{n}户院墙倒塌") for n in range(search.PAGE + 5)]
    first = search.search(world.center, "院墙")
    assert [h.case for h in first.hits] == cases[::-1][: search.PAGE]
    assert first.next_after == first.hits[-1].case.id
    second = search.search(world.center, "院墙", after=first.next_after)
    assert [h.case for h in second.hits] == cases[::-1][search.PAGE :]
    assert second.next_after is None


def test_the_snippet_shows_where_the_word_is_and_never_the_informant(world, town):
    (hit,) = search.search(world.center, "边界").hits
    assert hit.snippet[1] == "边界"
    assert "土地" in hit.snippet[0]
    (hit,) = search.search(world.center, PHONE).hits
    assert "刘" not in "".join(hit.snippet)
    assert PHONE not in "".join(hit.snippet)


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("", "empty_query"),
        ("   ", "empty_query"),
        ("，。！", "empty_query"),
        ("字" * 51, "query_too_long"),
    ],
)
def test_empty_and_too_long_queries_are_refused_in_chinese(world, typed, code):
    with pytest.raises(ValidationFailed) as refused:
        search.search(world.center, typed)
    assert refused.value.code == code


def test_the_database_keeps_no_identity_for_search(world, town, session):
    """The words hold no informant's identity, and the digests cannot be read back."""
    land, _leak = town
    body = session.scalar(select(CaseSearchText.body).where(CaseSearchText.case_id == land.id))
    assert "刘" not in body
    # No piece of the informant's phone among the words; the body's own markers (the
    # village's "_v<id>") aside, whose id on a long-lived test database may hold "13".
    words = [word for word in body.split() if not word.startswith("_")]
    assert not [word for word in words if word.isdigit() and word in PHONE]
    assert "liubei" not in body
    digests = session.scalars(
        select(CaseIdentityDigest.digest).where(CaseIdentityDigest.case_id == land.id)
    ).all()
    assert len(digests) == 4  # name, phone, WeChat id; one party's phone
    assert all(PHONE not in d and len(d) == 32 for d in digests)


def test_forgetting_an_informant_forgets_the_digests(world, town, session):
    land, _leak = town
    for action, actor, fields in (("reject", world.center, {"reason": "不属于本镇管辖。"}),):
        workflow.apply(land, action, actor=actor, **fields)
    from datetime import timedelta

    from server.infra import clock

    with clock.frozen_at(clock.now() + timedelta(days=40)):
        assert identity.purge(30) == 1
    assert found(world.center, PHONE) == []
    assert found(world.center, "刘备") == []
    assert found(world.center, PARTY_PHONE) == [land.code]  # the dispute's own record


def test_a_search_by_identity_is_audited_without_the_query(world, town, session):
    land, _leak = town
    search.search(world.center, "+86 138 0013 8000")
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "case.search_identity")
    ).all()[-1]
    assert entry.detail == {"by": ["phone"], "found": [land.code]}
    assert PHONE not in str(entry.detail)
    # The auditor reads it in words.
    from admin import audit_words

    assert audit_words.action_label(entry.action) == "按电话、姓名或微信号查找案件"
    words = dict(audit_words.detail_words(entry, audit_words.names_for([entry])))
    assert words == {"按": "电话", "找到的案件": codes.display(land.code)}


def test_the_search_logs_no_identity(world, town, client, signin, caplog):
    caplog.set_level(logging.DEBUG)
    signin(world.center)
    for typed in (PHONE, "刘备", "LiuBei_wx", "土地"):
        response = client.get("/admin/search", query_string={"q": typed})
        assert response.status_code == 200
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    for secret in (PHONE, "0013", "刘备", "刘", "LiuBei", "liubei"):
        assert secret not in logged


def test_the_admin_page_lists_what_was_found(world, town, client, signin):
    land, _leak = town
    signin(world.leader)
    page = client.get("/admin/search", query_string={"q": "土地"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert codes.display(land.code) in html
    assert "<mark>土地</mark>" in html
    assert land.village.name in html
    assert land.category.name in html
    assert "待受理" in html
    assert page.headers["Referrer-Policy"] == "no-referrer"
    # The search box is in every case page's header.
    assert 'action="/admin/search"' in client.get("/admin/").get_data(as_text=True)


def test_the_admin_page_goes_straight_to_a_numbered_case(world, town, client, signin):
    land, _leak = town
    signin(world.leader)
    response = client.get("/admin/search", query_string={"q": codes.display(land.code)})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/admin/cases/{land.code}")


def test_the_admin_page_shows_a_leader_no_identity(world, town, client, signin):
    land, _leak = town
    signin(world.leader)
    for typed in ("138-0013-8000", "刘备"):
        html = client.get("/admin/search", query_string={"q": typed}).get_data(as_text=True)
        assert codes.display(land.code) not in html
        assert "没有找到您可以查看的案件" in html
    signin(world.center)
    html = client.get("/admin/search", query_string={"q": "138-0013-8000"}).get_data(as_text=True)
    assert codes.display(land.code) in html
    assert "举报人电话" in html
    assert "刘备" not in html
    assert "刘 备" not in html


def test_the_admin_page_says_what_is_wrong_with_a_query(world, client, signin):
    signin(world.center)
    html = client.get("/admin/search", query_string={"q": "字" * 60}).get_data(as_text=True)
    assert "查找内容过长（最多50个字）" in html
    html = client.get("/admin/search", query_string={"q": ""}).get_data(as_text=True)
    assert "请输入要查找的内容" in html


def test_only_case_roles_may_search(world, client, signin):
    signin(world.admin)
    assert client.get("/admin/search", query_string={"q": "土地"}).status_code == 403


def test_a_key_rotation_loses_no_phone(world, town, app, monkeypatch):
    """A new identity key first: the digests under the old one are still looked up, and
    `reseal` rewrites them under the new one, so the old key can then be dropped."""
    from cryptography.fernet import Fernet

    land, _leak = town
    old = app.config["IDENTITY_KEYS"] or identity.derived_key(app.config["SECRET_KEY"])
    new = Fernet.generate_key().decode()
    monkeypatch.setitem(app.config, "IDENTITY_KEYS", f"{new},{old}")
    assert found(world.center, PHONE) == [land.code]
    assert identity.reseal() >= 1
    monkeypatch.setitem(app.config, "IDENTITY_KEYS", new)
    assert found(world.center, PHONE) == [land.code]
    assert found(world.center, PARTY_PHONE) == [land.code]
    assert found(world.center, "刘备") == [land.code]


def test_a_grid_worker_does_not_find_a_confidential_report_someone_else_made(world):
    """The access policy decides each result: a confidential category's case in the grid
    worker's own village, filed by a villager, stays out of their results."""
    secret = new_report(world, "S04", actor=None, source="qr", description="后院有人深夜交易毒品")
    own = new_report(world, "S04", description="村口小卖部附近有人交易毒品")
    assert found(world.worker1, "交易") == [own.code]
    assert set(found(world.center, "交易")) == {secret.code, own.code}


def test_windows_of_buckets_run_newest_first_and_cover_every_bucket():
    assert list(search._windows(0)) == [(0, 0)]
    assert list(search._windows(30)) == [(30, 30), (26, 29), (10, 25), (0, 9)]
    covered = [b for low, high in search._windows(244) for b in range(high, low - 1, -1)]
    assert covered == list(range(244, -1, -1))


def test_results_page_across_the_buckets_of_ids(world, session):
    """On PostgreSQL the newest bucket of 4096 ids is asked first, the rest after it."""
    from sqlalchemy import text

    older = [new_report(world, description=f"第{n}户院墙倒塌") for n in range(3)]
    if session.get_bind().dialect.name == "postgresql":  # later cases in a later bucket
        session.execute(
            text("SELECT setval('case_file_id_seq', greatest(nextval('case_file_id_seq'), 9000))")
        )
    newer = [new_report(world, description=f"第{n}户院墙倒塌") for n in range(search.PAGE + 5)]
    first = search.search(world.center, "院墙倒塌")
    second = search.search(world.center, "院墙倒塌", after=first.next_after)
    assert [h.case for h in first.hits + second.hits] == (older + newer)[::-1]
    assert second.next_after is None
