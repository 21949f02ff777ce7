"""Towns as tenants (issue 21, point 1): one deployment holds several towns; each town's
people see their own town's cases only, through every page and endpoint (404, as for a
case that does not exist); the district's center and leaders, who have no town, see them
all. Routing, dispatch and notifications stay inside the case's town.
"""

from __future__ import annotations

import io
import re
import uuid

import openpyxl
import pytest
from sqlalchemy import select

from server.cases import access, queries, search, workflow
from server.db import db
from server.infra import clock
from server.infra.errors import ValidationFailed
from server.models import AuditEntry, DepartmentKind, Notification, Role
from server.organisation import routing
from tests.factories import (
    DepartmentFactory,
    UserFactory,
    VillageFactory,
)
from tests.helpers import case_in, new_report


def test_each_town_s_people_see_their_own_town_s_cases_and_the_district_sees_all(world, towns):
    here = case_in("dispatched", world)
    there = new_report(world, village=towns["village"], actor=towns["grid"])
    assert (here.town_id, there.town_id) == (world.town.id, towns["town"].id)
    both = {here.id, there.id}

    def visible(user):
        ids = set(db.session.scalars(select(queries.Case.id).where(access.case_filter(user))))
        for case in (here, there):
            assert access.can_view_case(user, case) == (case.id in ids), user.username
        return ids & both

    assert visible(world.center) == visible(world.leader) == {here.id}
    assert visible(towns["center"]) == visible(towns["leader"]) == {there.id}
    assert visible(towns["grid"]) == {there.id}
    assert visible(towns["police"]) == visible(towns["justice"]) == set()
    assert visible(towns["district"]) == visible(towns["district_leader"]) == both
    # The informant: the case's own town's center (and the district's) only.
    assert access.can_see_informant(world.center, here)
    assert not access.can_see_informant(towns["center"], here)
    assert access.can_see_informant(towns["district"], here)


def test_another_town_s_case_is_not_there_on_any_page_or_endpoint(
    world, towns, client, login, signin
):
    case = case_in("dispatched", world)
    code = case.code
    db.session.flush()
    api_paths = [
        f"/api/v1/cases/{code}",
        f"/api/v1/cases/{code}/documents",
        f"/api/v1/cases/{code}/case-file.pdf",
    ]
    admin_paths = [
        f"/admin/cases/{code}",
        f"/admin/cases/{code}/print",
        f"/admin/cases/{code}/case-file.pdf",
    ]
    for username in ("o_center", "o_leader", "o_police"):
        user = towns[{"o_center": "center", "o_leader": "leader", "o_police": "police"}[username]]
        headers = login(user)
        for path in api_paths:
            answer = client.get(path, headers=headers)
            assert answer.status_code == 404, (username, path, answer.status_code)
        listed = client.get("/api/v1/cases?limit=100", headers=headers).json
        assert code not in {item["code"] for item in listed["items"]}, username
        acted = client.post(
            f"/api/v1/cases/{code}/actions",
            headers=headers | {"Idempotency-Key": str(uuid.uuid4())},
            json={"action": "note", "version": case.version, "text": "看一看"},
        )
        assert acted.status_code == 404, (username, acted.status_code)
        if user.role != Role.HANDLER:
            signin(user)
            for path in admin_paths:
                answer = client.get(path)
                assert answer.status_code == 404, (username, path, answer.status_code)
            assert code not in client.get("/admin/").get_data(as_text=True)
            found = client.get(f"/admin/search?q={code}").get_data(as_text=True)
            assert f"/admin/cases/{code}" not in found
    # The case's own town, and the district, have it.
    for user in (world.center, towns["district"]):
        headers = login(user)
        assert client.get(f"/api/v1/cases/{code}", headers=headers).status_code == 200
        signin(user)
        assert client.get(f"/admin/cases/{code}").status_code == 200
    assert search.search(towns["district"], code).hits


def test_routing_dispatch_and_notifications_stay_in_the_case_s_town(world, towns):
    # Each town's town-wide police serve its own villages only.
    assert routing.departments_of_kind(DepartmentKind.POLICE_STATION, world.v1) == [world.police]
    case = case_in("accepted", world)
    with pytest.raises(ValidationFailed) as refused:
        workflow.apply(
            case,
            "dispatch",
            actor=world.center,
            lead_department=towns["justice_office"].id,
        )
    assert refused.value.code == "unknown_reference"
    case_in("resolved", world)  # the resolution tells the center
    told = set(db.session.scalars(select(Notification.user_id)))
    assert world.center.id in told
    town_people = {towns[name].id for name in ("center", "leader", "justice", "police")}
    assert not told & (town_people | {towns["district"].id})


def test_a_town_s_figures_count_its_own_cases_and_the_district_s_every_town_s(world, towns):
    from server.figures import statistics
    from server.infra import clock

    case_in("closed", world)
    new_report(world, village=world.v2)
    new_report(world, village=towns["village"], actor=towns["grid"])
    today = clock.local(clock.now())
    month = statistics.month(today.year, today.month)
    here = statistics.compute(month, town_id=world.town.id)
    there = statistics.compute(month, town_id=towns["town"].id)
    district = statistics.compute(month)
    assert (here.received, there.received, district.received) == (2, 1, 3)
    assert set(there.received_by_village) == {"北村"}
    assert "北村" not in here.received_by_village
    # Another town's village asked for by name: nothing of it.
    assert statistics.compute(month, village_id=world.v1.id, town_id=towns["town"].id).received == 0
    # The district's figures set the towns side by side (issue 21: "figures by town");
    # a town's own show none, and each town's row adds up to its own figures.
    case_in("dispatched", world)  # open now
    district = statistics.compute(month)
    here = statistics.compute(month, town_id=world.town.id)
    assert here.by_town == []
    rows = {name: row for _id, name, *row in district.by_town}
    assert rows == {
        world.town.name: [
            here.received,
            sum(v[2] for v in here.villages_now),
            sum(v[3] for v in here.villages_now),
        ],
        towns["town"].name: [1, 1, 0],
    }
    # Two towns' villages of one name are two rows of the district's figures, each
    # after its town, each linked to its own cases.
    twin = VillageFactory(town=towns["town"], name=world.v1.name)
    new_report(world, village=twin, actor=None, source="qr")
    district = statistics.compute(month)
    mine, theirs = (f"{t.name}·{world.v1.name}" for t in (world.town, towns["town"]))
    assert district.received_by_village[theirs] == 1
    assert district.received_by_village[mine] == here.received_by_village[world.v1.name]
    assert (district.village_ids[mine], district.village_ids[theirs]) == (world.v1.id, twin.id)
    # The villages behind on their screening duty are named apart too.
    assert district.villages_missed.count(theirs) == 1
    assert world.v1.name not in district.villages_missed


# A town's villages asked in one pass over an index: a range, then exactly
# (partials.villages_scope).
ONE_PASS = re.compile(r"village_id BETWEEN .+village_id \+ \S+ IN \(")


def sent_by(work) -> tuple:
    """`work()`'s result and the statements it sent, each on one line."""
    from sqlalchemy import event

    sent: list[str] = []

    def capture(conn, cursor, statement, *rest):
        sent.append(" ".join(statement.split()))

    engine = db.session.get_bind()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        return work(), sent
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def test_a_town_s_figures_read_its_villages_events_in_one_pass(world, towns):
    """A town's dashboard counts its events on the figures' indexes with its villages as a
    range and then exactly: an IN of its villages alone made PostgreSQL 15 read the
    district's month once for each village (partials.villages_scope)."""
    from server.figures import statistics
    from server.infra import clock as town_clock

    case_in("closed", world)
    new_report(world, village=towns["village"], actor=towns["grid"])
    db.session.flush()
    today = town_clock.local(town_clock.now()).date()
    figures, sent = sent_by(
        lambda: statistics.compute(statistics.month(today.year, today.month), town_id=world.town.id)
    )
    assert figures.received == 1
    events = [s for s in sent if "FROM case_event" in s]
    assert len(events) >= 5
    assert [s for s in events if not ONE_PASS.search(s)] == []


def test_the_district_s_center_works_from_the_admin_across_towns(world, towns, client, signin):
    here = case_in("dispatched", world)
    there = new_report(world, village=towns["village"], actor=towns["grid"])
    db.session.flush()
    signin(towns["district"])
    # The district's queue opens on its own desk (what was escalated to it: nothing yet),
    # and shows every town's cases when asked.
    queue = client.get("/admin/").get_data(as_text=True)
    assert "区级承办案件" in queue
    assert here.code not in queue
    assert there.code not in queue
    queue = client.get("/admin/?desk=all").get_data(as_text=True)
    assert here.code in queue
    assert there.code in queue
    dashboard = client.get("/admin/dashboard").get_data(as_text=True)
    assert "各镇情况" in dashboard
    assert f"<td>{towns['town'].name}</td>" in dashboard
    # The map groups the villages under their towns (two towns may each have a 东村).
    maps = {
        part.split("<small>")[0]: part.split("</div>")[0]
        for part in dashboard.split('<h3 class="map-town">')[1:]
    }
    assert set(maps) == {world.town.name, towns["town"].name}
    assert "<b>北村</b>" in maps[towns["town"].name]
    assert f"<b>{world.v1.name}</b>" not in maps[towns["town"].name]
    assert f"<b>{world.v1.name}</b>" in maps[world.town.name]
    assert "<b>北村</b>" not in maps[world.town.name]
    # The report page and its workbook carry the towns' table too.
    today = clock.local(clock.now())
    month = f"?kind=month&value={today.year}-{today.month:02d}"
    report = client.get(f"/admin/report{month}").get_data(as_text=True)
    assert "<h2>各镇情况</h2>" in report
    assert f"<tr><td>{towns['town'].name}</td><td>1</td><td>1</td><td>0</td></tr>" in report
    book = openpyxl.load_workbook(io.BytesIO(client.get(f"/admin/report.xlsx{month}").data))
    rows = list(book["按镇"].iter_rows(values_only=True))
    assert rows[0] == ("镇", "本期收到", "当前未结", "当前超期")
    assert (towns["town"].name, 1, 1, 0) in rows
    signin(towns["center"])
    queue = client.get("/admin/").get_data(as_text=True)
    assert there.code in queue
    assert here.code not in queue
    page = client.get("/admin/dashboard").get_data(as_text=True)
    assert "北村" in page
    assert "东村" not in page
    assert "各镇情况" not in page
    assert "map-town" not in page
    assert "各镇情况" not in client.get("/admin/report").get_data(as_text=True)
    book = openpyxl.load_workbook(io.BytesIO(client.get("/admin/report.xlsx").data))
    assert "按镇" not in book.sheetnames


def test_a_town_s_ledger_holds_its_own_town_s_rows(world, towns, tmp_path):
    from server.figures import ledgers, statistics
    from server.infra import clock

    here = case_in("dispatched", world)
    there = new_report(world, village=towns["village"], actor=towns["grid"])
    today = clock.local(clock.now())
    month = statistics.month(today.year, today.month)
    counted = {t: ledgers.count("cases", month, t) for t in (world.town.id, towns["town"].id)}
    assert counted == {world.town.id: 1, towns["town"].id: 1}
    assert ledgers.count("cases", month) == 2  # the district's
    from openpyxl import load_workbook

    out = tmp_path / "ledger.xlsx"
    assert ledgers.write("cases", month, out, town_id=towns["town"].id) == 1
    rows = load_workbook(out).active.iter_rows(values_only=True)
    text = " ".join(str(cell) for row in rows for cell in row).replace("-", "")  # 1234-5678
    assert there.code in text
    assert here.code not in text


def test_a_town_s_account_keeper_keeps_its_own_town_s_accounts_only(world, towns):
    from server.infra.errors import NotFound
    from server.organisation import accounts

    keeper = UserFactory(username="o_security", role=Role.SECURITY_ADMIN, town=towns["town"])
    for other in (world.center, towns["district"], towns["district_leader"]):
        with pytest.raises(NotFound):
            accounts.reset_password(other, "Another@2026pw", actor=keeper)
        with pytest.raises(NotFound):
            accounts.set_active(other, False, actor=keeper)
        with pytest.raises(NotFound):
            accounts.update_user(
                other, actor=keeper, department_id=None, grid_ids=None, role="leader"
            )
    assert world.center.active
    assert towns["district"].town_id is None
    assert towns["district_leader"].role == Role.LEADER
    # Their own town's, they keep.
    accounts.set_active(towns["leader"], False, actor=keeper)
    assert not towns["leader"].active


def test_a_town_s_center_files_into_its_own_town_only(world, towns):
    from server.cases.operations import Reporter

    with pytest.raises(ValidationFailed) as refused:
        new_report(
            world, village=world.v1, actor=towns["center"], source="walk_in", reporter=Reporter()
        )
    assert refused.value.code == "unknown_village"
    # A grid bound across towns by mistake shows its worker nothing of the other town.
    towns["grid"].grids.append(world.g1)
    here = case_in("dispatched", world)
    assert not access.can_view_case(towns["grid"], here)
    visible = set(
        db.session.scalars(select(queries.Case.id).where(access.case_filter(towns["grid"])))
    )
    assert here.id not in visible


def test_an_escalation_tells_the_town_s_leaders_and_the_district(world, towns):
    case = case_in("dispatched", world)
    workflow.apply(case, "escalate", actor=world.center, reason="涉及人数多，需区级协调。")
    told = set(
        db.session.scalars(
            select(Notification.user_id).where(
                Notification.case_id == case.id, Notification.kind == "escalate"
            )
        )
    )
    assert {world.leader.id, towns["district"].id, towns["district_leader"].id} <= told
    assert not told & {towns["leader"].id, towns["center"].id}


def test_a_town_s_security_admin_approves_its_own_town_s_accounts_only(world, towns):
    """The second person's approval (两人审批) keeps to the towns too: a new center account
    of the first town waits for a security admin who keeps it (that town's, or the
    district's), and another town's neither sees it nor can approve it."""
    from server.infra.errors import NotFound
    from server.organisation import accounts
    from server.trust import approvals

    other_security = UserFactory(
        username="o_security", role=Role.SECURITY_ADMIN, town=towns["town"]
    )
    district_security = UserFactory(username="d_security", role=Role.SECURITY_ADMIN, town=None)
    asker = UserFactory(username="t_security2", role=Role.SECURITY_ADMIN, town=world.town)
    made = accounts.create_user(
        actor=asker,
        username="t_center9",
        display_name="新值班员",
        role="center",
        password="Xy7!abcd12",
    )
    assert not made.active
    (asked,) = approvals.pending(world.security)
    assert asked.object_id == str(made.id)
    assert approvals.pending(other_security) == []
    with pytest.raises(NotFound):
        approvals.approve(asked.id, actor=other_security)
    assert not made.active
    assert [a.id for a in approvals.pending(district_security)] == [asked.id]
    approvals.approve(asked.id, actor=world.security)
    assert made.active


def audit_codes(client, signin, auditor, codes=("HERE-1", "THERE-2")) -> set[str]:
    """Which of the entries' object `codes` `auditor` reads on the audit page."""
    signin(auditor)
    page = client.get("/admin/audit").get_data(as_text=True)
    return {code for code in codes if code in page}


def test_a_town_s_auditor_reads_what_its_own_town_s_people_did(world, towns, client, signin):
    from server.trust import audit

    audit.record("case.viewed", actor=world.center, object_type="case", object_id="HERE-1")
    audit.record("case.viewed", actor=towns["center"], object_type="case", object_id="THERE-2")
    other_auditor = UserFactory(username="o_auditor", role=Role.AUDITOR, town=towns["town"])
    district_auditor = UserFactory(username="d_auditor", role=Role.AUDITOR, town=None)
    db.session.flush()

    def read(auditor):
        return audit_codes(client, signin, auditor)

    assert read(world.auditor) == {"HERE-1"}
    assert read(other_auditor) == {"THERE-2"}
    assert read(district_auditor) == {"HERE-1", "THERE-2"}


def test_what_no_one_did_to_a_town_s_accounts_and_villages_is_that_town_s_to_audit(world, towns):
    """A failed sign-in to a town's account, and the operator's acts on its accounts and
    villages (no actor), are read by that town's auditor, and not by another town's."""
    from server.auth import LoginFailed, authenticate
    from server.models import User
    from server.organisation import accounts, qr
    from server.trust import audit

    with pytest.raises(LoginFailed):
        authenticate(world.center.username, "wrong password 1", ip="10.0.0.9")
    made = accounts.create_user(
        actor=None,
        username="t_leader7",
        display_name="新领导",
        role="leader",
        password="Xy7!abcd12",
        town_id=world.town.id,
    )
    qr.rotate(world.v1, actor=None)
    db.session.flush()
    kinds = {e.action: e.town_id for e in db.session.scalars(select(AuditEntry))}
    assert kinds["auth.login_failed"] == kinds["village.rotate_qr"] == world.town.id
    assert kinds["user.create"] == made.town_id == world.town.id
    other_auditor = UserFactory(username="o_auditor", role=Role.AUDITOR, town=towns["town"])
    db.session.flush()

    def actions(auditor) -> set[str]:
        read = (
            select(AuditEntry.action)
            .outerjoin(User, User.id == AuditEntry.actor_id)  # as the audit page reads
            .where(audit.readable_by(auditor))
        )
        return set(db.session.scalars(read))

    assert {"auth.login_failed", "user.create", "village.rotate_qr"} <= actions(world.auditor)
    assert not {"auth.login_failed", "user.create", "village.rotate_qr"} & actions(other_auditor)


def test_an_account_moved_to_another_town_leaves_its_acts_with_the_old_town(
    world, towns, client, signin
):
    """Each entry keeps the town its actor acted for: a moved account's history stays with
    the auditor of the town it acted for, and the new town's reads its acts from then on."""
    from server.organisation import accounts
    from server.trust import audit

    mover = UserFactory(username="t_leader9", role=Role.LEADER, town=world.town)
    audit.record("case.viewed", actor=mover, object_type="case", object_id="BEFORE-1")
    district_security = UserFactory(username="d_security", role=Role.SECURITY_ADMIN, town=None)
    accounts.update_user(
        mover, actor=district_security, department_id=None, grid_ids=[], town_id=towns["town"].id
    )
    assert mover.town_id == towns["town"].id
    audit.record("case.viewed", actor=mover, object_type="case", object_id="AFTER-2")
    other_auditor = UserFactory(username="o_auditor", role=Role.AUDITOR, town=towns["town"])
    district_auditor = UserFactory(username="d_auditor", role=Role.AUDITOR, town=None)
    db.session.flush()
    other_town = towns["town"].id

    def read(auditor):
        return audit_codes(client, signin, auditor, ("BEFORE-1", "AFTER-2", "DIST-3"))

    assert read(world.auditor) == {"BEFORE-1"}
    assert read(other_auditor) == {"AFTER-2"}
    assert read(district_auditor) == {"BEFORE-1", "AFTER-2"}
    # A district account moved into a town: what it did for the district stays the
    # district's (it named every town's cases).
    district_leader = UserFactory(username="d_leader9", role=Role.LEADER, town=None)
    audit.record("case.viewed", actor=district_leader, object_type="case", object_id="DIST-3")
    accounts.update_user(
        district_leader,
        actor=UserFactory(username="d_security2", role=Role.SECURITY_ADMIN, town=None),
        department_id=None,
        grid_ids=[],
        town_id=world.town.id,
    )
    db.session.flush()
    assert district_leader.town_id == world.town.id
    assert read(world.auditor) == {"BEFORE-1"}
    assert read(district_auditor) == {"BEFORE-1", "AFTER-2", "DIST-3"}
    # The town is in the entry's hash: moved to the other town afterwards, it shows.
    assert audit.verify().broken_at is None
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.object_id == "BEFORE-1"))
    entry.town_id = other_town
    db.session.flush()
    assert audit.verify().broken_at == entry.id


def test_screenings_and_their_coverage_keep_to_the_town(world, towns, client, login, signin):
    """排查无盲区 is each town's: its coverage lists its own villages, its screening list
    its own screenings; the district's, every town's."""
    from server.follow_through import screening

    checked = ["D02", "S04"]
    screening.file_screening(actor=world.worker1, village=world.v1, checked=checked, findings=[])
    screening.file_screening(
        actor=towns["grid"], village=towns["village"], checked=checked, findings=[]
    )
    db.session.flush()
    periods = screening.weeks(clock.local(clock.now()).date(), 1, 1)
    assert {v.name for v, _ in screening.coverage(periods, world.center)} == {"东村", "西村"}
    assert {v.name for v, _ in screening.coverage(periods, towns["center"])} == {"北村"}
    assert {"东村", "北村"} <= {v.name for v, _ in screening.coverage(periods, towns["district"])}
    listed = client.get("/api/v1/screenings", headers=login(towns["center"])).json
    assert {item["village"]["name"] for item in listed} == {"北村"}
    signin(world.center)
    page = client.get("/admin/coverage").get_data(as_text=True)
    assert "东村" in page
    assert "北村" not in page


def test_a_town_s_failed_messages_are_its_own(world, towns, client, signin):
    """发送失败: a town's center sees and sends again the messages to its own people."""
    from server.follow_through import notifications
    from server.models import Notification

    def dead(user):
        note = Notification(
            user_id=user.id, channel="wechat", kind="dispatch", title="新派遣案件", body="…",
            status="dead", attempts=notifications.MAX_ATTEMPTS, last_error="43101",
        )  # fmt: skip
        db.session.add(note)
        db.session.flush()
        return note

    here, there = dead(world.police_handler), dead(towns["police"])
    assert notifications.dead_letters(world.center) == [here]
    assert notifications.dead_letters(towns["center"]) == [there]
    assert set(notifications.dead_letters(towns["district"])) == {here, there}
    assert notifications.resend_dead([there.id], actor=world.center) == 0
    assert there.status == "dead"
    signin(towns["center"])
    page = client.get("/admin/dead-letters").get_data(as_text=True)
    assert towns["police"].display_name in page
    assert world.police_handler.display_name not in page


def test_the_dashboard_s_twelve_months_are_the_town_s_own(world, towns):
    """The 12-month chart beside every dashboard: a town's own reports, closures and late
    steps; the district's, everyone's (from the months the sweep keeps, and still the same
    after it has kept them)."""
    from server.figures import partials, statistics

    case_in("closed", world)
    new_report(world, village=towns["village"], actor=towns["grid"])
    db.session.flush()

    def this_month(town_id):
        return statistics.rolling_year(town_id)[-1][1:3]  # (received, closed)

    assert this_month(world.town.id) == (1, 1)
    assert this_month(towns["town"].id) == (1, 0)
    assert this_month(None) == (2, 1)
    while partials.keep_month_figures():  # earlier months kept as the sweep keeps them
        pass
    assert len(statistics.rolling_year(towns["town"].id)) == 12
    assert this_month(towns["town"].id) == (1, 0)


def test_a_town_s_league_tables_rank_its_own(world, towns):
    """考核: a town's departments, villages and grid workers are ranked among themselves;
    the district's tables hold every town's."""
    from server.figures import league, statistics
    from server.infra import clock as town_clock

    case_in("closed", world)
    new_report(world, village=towns["village"], actor=towns["grid"])
    db.session.flush()
    today = town_clock.local(town_clock.now()).date()
    month = statistics.month(today.year, today.month)

    def names(town_id, kind):
        return {row.name for row in league.compute(month, town_id=town_id).tables[kind].rows}

    here = names(world.town.id, "village")
    assert {"东村", "西村"} <= here
    assert "北村" not in here
    assert names(towns["town"].id, "village") == {"北村"}
    assert "小王庄派出所" not in names(world.town.id, "department")
    assert {"东村", "北村"} <= names(None, "village")
    assert league.compute(month, town_id=towns["town"].id).received == 1
    assert league.compute(month).received == 2


def test_a_town_s_league_tables_read_its_own_cases_only(world, towns):
    """A town's 考核 counts its own villages' events, steps, dispatches and screenings in
    the database: in a district of ten towns it reads a tenth of the month, not the
    month's every event to keep its own units' rows (at a million cases, seconds). With
    no one moved between towns, its units' rows are what the district's tables show of
    them, and its whole-town rates are its own cases' only."""

    from server.figures import league, statistics
    from server.infra import clock as town_clock

    for state in ("closed", "dispatched"):
        case_in(state, world)
    # The other town resolves a case of its own, which its figures count and ours not.
    there = new_report(world, village=towns["village"], actor=towns["grid"])
    workflow.apply(there, "accept", actor=towns["center"])
    workflow.apply(
        there, "dispatch", actor=towns["center"], lead_department=towns["justice_office"].id
    )
    workflow.apply(there, "sign_for", actor=towns["justice"])
    workflow.apply(
        there, "resolve", actor=towns["justice"], result_code="mediated", result_text="已调解。"
    )
    db.session.flush()
    today = town_clock.local(town_clock.now()).date()
    month = statistics.month(today.year, today.month)
    here, sent = sent_by(lambda: league.compute(month, town_id=world.town.id))
    counted = [
        s
        for s in sent
        if any(f"FROM {t}" in s for t in ("case_event", "case_assignment", "screening"))
        or ("FROM case_file" in s and "due_at" in s)
    ]
    assert len(counted) >= 10  # every measure's: steps, events, dispatches, screenings
    # Each read is bounded by the town's villages (as a range and exactly, or by each).
    unbounded = [s for s in counted if not (ONE_PASS.search(s) or "village_id IN (" in s)]
    assert unbounded == []
    district = league.compute(month)
    for kind in ("village", "department", "grid_worker"):
        mine = {row.unit_id: counts(row) for row in here.tables[kind].rows}
        assert mine
        everyone = {row.unit_id: counts(row) for row in district.tables[kind].rows}
        assert mine == {unit: everyone[unit] for unit in mine}
    # The whole town's: its one resolved case, not the other town's too.
    assert (here.town["resolve"].whole, district.town["resolve"].whole) == (1, 2)
    there_ = league.compute(month, town_id=towns["town"].id)
    assert (there_.town["resolve"].whole, there_.received) == (1, 1)
    assert here.received == 2


def counts(row) -> dict:
    return {key: (score.part, score.whole) for key, score in row.scores.items()}


def test_a_town_s_joint_meeting_brief_is_its_own(world, towns):
    """研判: a town's brief counts its own reports and its own villages' screenings."""
    from server.figures import brief, statistics
    from server.infra import clock as town_clock

    case_in("dispatched", world)
    new_report(world, village=towns["village"], actor=towns["grid"])
    db.session.flush()
    today = town_clock.local(town_clock.now()).date()
    month = statistics.month(today.year, today.month)
    here = brief.compute(month, viewer=world.center)
    there = brief.compute(month, viewer=towns["center"])
    assert (here.received, there.received) == (1, 1)
    assert brief.compute(month, viewer=towns["district"]).received == 2
    assert {gap.name for gap in there.gaps} == {"北村"}
    assert "北村" not in {gap.name for gap in here.gaps}
    # The district's brief names each village after its town (two towns' 东村).
    district_gaps = {gap.name for gap in brief.compute(month, viewer=towns["district"]).gaps}
    assert f"{towns['town'].name}·北村" in district_gaps
    assert f"{world.town.name}·{world.v1.name}" in district_gaps


def test_a_case_file_is_headed_with_its_own_town(world, towns):
    """In a district of towns, the case file's cover and title name the case's own town,
    not the deployment's first (TOWN_NAME)."""
    from pypdf import PdfReader

    from server.casefile import pdf_layout

    there = new_report(world, village=towns["village"], actor=towns["grid"])
    text = "\n".join(
        page.extract_text()
        for page in PdfReader(io.BytesIO(pdf_layout.build(there, viewer=towns["center"]))).pages
    )
    assert towns["town"].name in text
    assert world.town.name not in text


def test_two_towns_may_each_have_a_department_of_one_name(world, towns, runner):
    """A department's name is its town's own: two towns may each have a 东村村委会, one
    town may not have two, nor the district two of its own; the command line asks which
    town's when a name is in several."""
    from server.db import unit
    from server.infra.errors import Conflict
    from server.models import User
    from server.organisation import management
    from tests.factories import PASSWORD

    def save(town, name):
        return management.save_department(
            actor=None,
            department=None,
            name=name,
            kind="village_committee",
            town_wide=False,
            village_ids=[],
            town=town,
        )

    here = world.committee1  # 东村村委会 of the first town
    there = save(str(towns["town"].id), here.name)
    assert (here.town_id, there.town_id) == (world.town.id, towns["town"].id)
    with pytest.raises(Conflict) as refused:
        save(str(world.town.id), "东村村委会")
    assert (refused.value.code, refused.value.message) == ("department_taken", "本镇已有同名部门。")
    save("district", "区调解中心")
    with pytest.raises(Conflict) as refused:
        save("district", "区调解中心")
    assert refused.value.message == "已有同名区直部门。"

    unit.finish()  # kept, as an admin's request would (a refused command rolls back)

    def create(username, *more):
        return runner.invoke(
            args=["create-user", username, "--role", "handler", "--department", "东村村委会",
                  *more, "--password", PASSWORD]
        )  # fmt: skip

    ambiguous = create("dong1")
    assert ambiguous.exit_code != 0
    assert "有多个镇有部门" in ambiguous.output
    chosen = create("dong2", "--town", towns["town"].name)
    assert chosen.exit_code == 0, chosen.output
    made = db.session.scalar(select(User).where(User.username == "dong2"))
    assert made.department_id == there.id
    assert made.town_id == towns["town"].id
    # The district's own duties (三员) are made at the district, a grid worker never.
    for username, role in (("d_sec1", "security_admin"), ("d_adm1", "admin")):
        result = runner.invoke(
            args=["create-user", username, "--role", role, "--district", "--password", PASSWORD]
        )
        assert result.exit_code == 0, result.output
        made = db.session.scalar(select(User).where(User.username == username))
        assert (made.town_id, made.active) == (None, True)
    grid = runner.invoke(
        args=["create-user", "d_grid", "--role", "grid_worker", "--district",
              "--grid", world.g1.code, "--password", PASSWORD]
    )  # fmt: skip
    assert grid.exit_code != 0


def test_a_town_s_file_makes_its_own_department_of_a_name_another_town_has(world, towns):
    """The second town's admin imports its town file with a 东村村委会 of its own: a new
    department of that town, not a change to the first town's of that name."""
    from server.models import Department, Role
    from server.organisation import town_file
    from tests.factories import UserFactory
    from tests.test_town_setup import filled

    admin = UserFactory(username="o_admin", role=Role.ADMIN, town=towns["town"])
    name = world.committee1.name
    data = filled(
        镇=[],
        村=[],
        网格=[],
        部门=[(name, "村调委会", "否", towns["village"].code, "", "是")],
        账号=[],
    )
    town_file.import_town(data, actor=admin)
    db.session.flush()
    theirs = db.session.scalar(
        select(Department).where(Department.name == name, Department.town_id == towns["town"].id)
    )
    assert theirs is not None
    assert theirs is not world.committee1
    assert [v.id for v in theirs.villages] == [towns["village"].id]
    assert world.committee1.town_id == world.town.id
    assert [v.id for v in world.committee1.villages] == [world.v1.id]


def test_each_town_numbers_its_own_papers_and_archive_from_one(world, towns):
    """A district's towns count their papers (文号) and archive (卷号) apart, each from 1
    in a year, and each prints its own character: the one town's numbers no longer run on
    from the other's."""
    from server.casefile import archive, documents
    from server.infra import clock

    here = new_report(world)
    there = new_report(world, village=towns["village"], actor=towns["grid"])
    year = clock.local(clock.now()).year
    made = [
        documents.make(here, "application", actor=world.center),
        documents.make(there, "application", actor=towns["center"]),
        documents.make(there, "rights_notice", actor=towns["center"]),
    ]
    db.session.flush()
    assert [(d.town_id, d.serial, d.number) for d in made] == [
        (world.town.id, 1, f"〔{year}〕大调申字第1号"),
        (towns["town"].id, 1, f"〔{year}〕小调申字第1号"),
        (towns["town"].id, 1, f"〔{year}〕小调告字第1号"),
    ]
    filed = [archive.file_case(case, at=clock.now(), actor=None) for case in (there, here, there)]
    assert [(e.town_id, e.serial) for e in filed] == [
        (towns["town"].id, 1),
        (world.town.id, 1),
        (towns["town"].id, 1),  # filed again: the same entry, its number kept
    ]
    assert filed[0].number == f"〔{year}〕小档字第1号"
    # A town's own character (文号简称), and the deployment's configured one for its own
    # town (the first here: none is named TOWN_NAME) only.
    from flask import current_app

    from server.casefile import numbering

    towns["town"].document_prefix = "王"
    current_app.config["DOCUMENT_NUMBER_PREFIX"] = "钟"
    try:
        assert numbering.prefix(towns["town"]) == "王"
        assert numbering.prefix(world.town) == "钟"
        towns["town"].document_prefix = None
        assert numbering.prefix(towns["town"]) == "小"
    finally:
        current_app.config["DOCUMENT_NUMBER_PREFIX"] = ""


def test_the_district_s_account_keeper_places_an_account_in_a_town(world, towns, client, signin):
    """A center, leader or admin has no department or grid to take a town from: the
    district's security admin chooses one (or the district) in the account form, and a
    department of another town than the one chosen is refused in words. A town's keeper
    has no such choice: their accounts are their town's."""
    from server.models import User

    def made(username):
        db.session.expire_all()
        return db.session.scalar(select(User).where(User.username == username))

    keeper = UserFactory(username="d_security", role=Role.SECURITY_ADMIN, town=None)
    token = signin(keeper)
    page = client.get("/admin/users").get_data(as_text=True)
    assert "所属镇" in page
    assert f'<option value="{towns["town"].id}">{towns["town"].name}</option>' in page

    def make(username, role, **fields):
        data = {"csrf_token": token, "username": username, "display_name": username}
        data |= {"role": role, "password": "Town@Leader2026", **fields}
        return client.post("/admin/users", data=data, follow_redirects=True)

    make("o_leader2", "leader", town=str(towns["town"].id))
    assert made("o_leader2").town_id == towns["town"].id
    make("d_leader2", "leader", town="district")
    assert made("d_leader2").town_id is None
    refused = make(
        "o_police2", "handler", town=str(towns["town"].id), department=str(world.police.id)
    )
    assert "所选的部门或网格不在所选的镇" in refused.get_data(as_text=True)
    assert made("o_police2") is None
    # 区里 with a town's department is refused too; with a district department it holds.
    refused = make("d_police2", "handler", town="district", department=str(world.police.id))
    assert "区级账号不能属于镇的部门或网格" in refused.get_data(as_text=True)
    assert made("d_police2") is None
    bureau = str(towns["district_department"].id)
    make("d_bureau2", "handler", town="district", department=bureau)
    assert made("d_bureau2").town_id is None
    # A town's keeper: no choice on the page, and a chosen town is not read.
    token = signin(world.security)
    page = client.get("/admin/users").get_data(as_text=True)
    assert "所属镇" not in page
    make("w_leader2", "leader", town=str(towns["town"].id))
    assert made("w_leader2").town_id == world.town.id


def test_a_town_s_admin_makes_villages_and_grids_in_its_own_town_only(world, towns, client, signin):
    """A village made by the second town's admin is that town's (it was the first
    town's); another town's village or grid is not found, to change or to rotate its QR
    code, and cannot be chosen for a new grid. Nothing of the first town changes."""
    from server.models import Grid, Village

    admin = UserFactory(username="o_admin", role=Role.ADMIN, town=towns["town"])
    token = signin(admin)
    form = {"csrf_token": token, "active": "yes"}
    client.post("/admin/villages", data=form | {"code": "W09", "name": "新王村"})
    made = db.session.scalar(select(Village).where(Village.code == "W09"))
    assert made.town_id == towns["town"].id
    before = (world.v1.code, world.v1.name, world.v1.qr_token)
    page = client.post(
        f"/admin/villages/{world.v1.id}",
        data=form | {"code": world.v1.code, "name": "改名村"},
        follow_redirects=True,
    )
    assert "找不到该村" in page.get_data(as_text=True)
    assert client.post(f"/admin/villages/{world.v1.code}/rotate", data=form).status_code == 404
    page = client.post(
        "/admin/grids",
        data=form | {"code": "X-G9", "name": "越界网格", "village": str(world.v1.id)},
        follow_redirects=True,
    )
    assert "请选择网格所属的村" in page.get_data(as_text=True)
    grid = world.v1.grids[0]
    page = client.post(
        f"/admin/grids/{grid.id}",
        data=form | {"code": grid.code, "name": "改名网格", "village": str(world.v1.id)},
        follow_redirects=True,
    )
    assert "找不到该网格" in page.get_data(as_text=True)
    db.session.expire_all()
    assert (world.v1.code, world.v1.name, world.v1.qr_token) == before
    assert db.session.scalar(select(Grid).where(Grid.code == "X-G9")) is None
    assert world.v1.grids[0].name != "改名网格"
    # The district's admin chooses the town of a new village on the same page.
    district_admin = UserFactory(username="d_admin", role=Role.ADMIN, town=None)
    token = signin(district_admin)
    assert "所属镇" in client.get("/admin/villages").get_data(as_text=True)
    client.post(
        "/admin/villages",
        data={"csrf_token": token, "active": "yes", "code": "W10", "name": "后王村"}
        | {"town": str(towns["town"].id)},
    )
    made = db.session.scalar(select(Village).where(Village.code == "W10"))
    assert made.town_id == towns["town"].id


def test_each_poster_names_its_village_s_own_town(world, towns, client, signin):
    """The district's sheet of posters: each names its village's town and hotline (it
    named the first town on every poster)."""
    signin(towns["district"])
    sheet = client.get("/admin/villages/posters").get_data(as_text=True)
    assert f"{world.town.name}矛盾纠纷调处化解中心" in sheet
    assert f"{towns['town'].name}矛盾纠纷调处化解中心" in sheet


def test_the_command_line_s_posters_are_each_headed_with_their_own_town(
    world, towns, runner, tmp_path
):
    """export-qr's poster of a village is headed with its own town (it was the first
    town's), and the sheet of several towns' villages with none."""
    result = runner.invoke(args=["export-qr", str(tmp_path)])
    assert result.exit_code == 0, result.output
    village = towns["village"]
    poster = (tmp_path / f"{village.code}-{village.name}-poster.html").read_text("utf-8")
    assert f"<title>{towns['town'].name} 扫码上报海报</title>" in poster
    sheet = (tmp_path / "all-villages-posters.html").read_text("utf-8")
    assert f"<title>{world.town.name} " not in sheet


def test_each_town_publishes_its_own_month(world, towns, client, app):
    """每月一公开 of a district: each town's page counts its own villages' reports, under
    its own name; the page without a town lets the reader choose one."""
    for _ in range(2):
        new_report(world, village=towns["village"], actor=towns["grid"])
    new_report(world)
    today = clock.local(clock.now()).date()
    month = f"/disclosure/{today.year}-{today.month}"
    app.config["DISCLOSURE_MIN_COUNT"] = 1  # every count shown as it is
    try:
        page = client.get(f"{month}?town={towns['town'].id}").get_data(as_text=True)
        first = client.get(f"{month}?town={world.town.id}").get_data(as_text=True)
    finally:
        app.config["DISCLOSURE_MIN_COUNT"] = 5
    assert "小王庄镇" in page
    assert "共收到群众和网格员报告 <b>2</b> 件次" in page
    assert "<td>北村</td><td>2</td>" in page
    assert world.v1.name not in page
    assert "共收到群众和网格员报告 <b>1</b> 件次" in first
    assert "北村" not in first
    # A village's report page links to its own town's month.
    form = client.get(f"/q/{towns['village'].qr_token}").get_data(as_text=True)
    assert f"/disclosure?town={towns['town'].id}" in form
    choose = client.get(month).get_data(as_text=True)
    assert "请选择乡镇" in choose
    assert f"town={towns['town'].id}" in choose
    assert client.get(f"{month}?town=999999").status_code == 404
    # Counted when asked: an address asks for so many an hour.
    app.config["DISCLOSURE_LIMIT_PER_ADDRESS"] = "1/hour"
    try:
        assert client.get(f"{month}?town={world.town.id}").status_code == 200
        limited = client.get(f"{month}?town={world.town.id}")
    finally:
        app.config["DISCLOSURE_LIMIT_PER_ADDRESS"] = "60/hour"
    assert limited.status_code == 429
    assert "请稍后再试" in limited.get_data(as_text=True)


def test_the_district_s_account_keeper_moves_an_account_to_another_town(
    world, towns, client, signin
):
    """The district's keeper moves a leader to another town at once, and its sessions end
    with what it could see; a privileged account (a center) moves only when a second
    security admin approves, as making it in that town would wait; a handler's town stays
    its department's. A town's keeper cannot move an account."""
    from server.models import User, WebSession
    from server.trust import approvals

    keeper = UserFactory(username="d_security", role=Role.SECURITY_ADMIN, town=None)
    second = UserFactory(username="d_security2", role=Role.SECURITY_ADMIN, town=None)
    leader, center = world.leader, world.center
    other = towns["town"]

    def edit(user, **fields):
        data = {"csrf_token": token, "display_name": user.display_name, "role": user.role.value}
        return client.post(
            f"/admin/users/{user.id}/bind", data=data | fields, follow_redirects=True
        )

    signin(leader)  # a session of the leader's, to be ended by the move
    token = signin(keeper)
    page = client.get("/admin/users").get_data(as_text=True)
    assert f'<option value="{other.id}">{other.name}</option>' in page
    token_secret = leader.token_secret
    sessions = select(WebSession).where(WebSession.user_id == leader.id)
    assert db.session.scalars(sessions).all()
    edit(leader, town=str(other.id))
    db.session.expire_all()
    assert leader.town_id == other.id
    assert leader.token_secret != token_secret
    assert not db.session.scalars(select(WebSession).where(WebSession.user_id == leader.id)).all()
    # A center waits for the second keeper; until then it stays in its town.
    said = edit(center, town=str(other.id)).get_data(as_text=True)
    assert "须另一位安全管理员审批后生效" in said
    db.session.expire_all()
    assert center.town_id == world.town.id
    (asked,) = [a for a in approvals.pending(second) if a.kind == "move_town"]
    assert asked.payload["town_id"] == other.id
    approvals.approve(asked.id, actor=second)
    db.session.expire_all()
    assert center.town_id == other.id
    # A handler with its own town's department stays where the department is.
    refused = edit(
        world.police_handler, town=str(other.id), department=str(world.police.id)
    ).get_data(as_text=True)
    assert "所选的部门或网格不在所选的镇" in refused
    db.session.expire_all()
    assert world.police_handler.town_id == world.town.id
    # A town's keeper: no choice on the page, and a chosen town is not read.
    token = signin(world.security)
    moved_back = db.session.scalar(select(User).where(User.username == world.worker1.username))
    edit(moved_back, town=str(other.id), grids=str(world.g1.id))
    db.session.expire_all()
    assert moved_back.town_id == world.town.id


def test_a_district_s_pages_of_no_village_name_no_one_town(world, towns, client):
    """The front door and the lookup of a district name no town (the first town's name and
    hotline are not a caller's); a village's page names its own town and hotline."""
    towns["town"].hotline = "88886666"
    db.session.flush()
    for path in ("/", "/t"):
        page = client.get(path).get_data(as_text=True)
        assert world.town.name not in page, path
        assert "88886666" not in page, path
    form = client.get(f"/q/{towns['village'].qr_token}").get_data(as_text=True)
    assert towns["town"].name in form
    assert "88886666" in form
    assert world.town.name not in form


def test_the_api_s_choice_lists_name_each_row_s_town(world, towns, client, login):
    """A district's people read every town's villages and departments, which may share a
    name: each row names its town (a district department: 区直)."""
    twin = DepartmentFactory(
        town=towns["town"], name=world.committee1.name, kind=DepartmentKind.VILLAGE_COMMITTEE
    )
    headers = login(towns["district"])
    departments = client.get("/api/v1/departments", headers=headers).json
    named = {(d["name"], d["town_name"]) for d in departments}
    assert (world.committee1.name, world.town.name) in named
    assert (twin.name, towns["town"].name) in named
    assert (towns["district_department"].name, "区直") in named
    villages = client.get("/api/v1/villages", headers=headers).json
    assert {"北村": towns["town"].name}.items() <= {
        v["name"]: v["town_name"] for v in villages
    }.items()
    # A town's people read their own town's only, as before.
    mine = client.get("/api/v1/departments", headers=login(world.center)).json
    assert {d["town_name"] for d in mine} == {world.town.name}


def test_the_district_s_account_page_loads_each_choice_s_town_with_it(world, towns, client, signin):
    """The account forms name each grid's and department's town for the district's
    keeper: read with the rows, not one query a village (a district has 450)."""
    from sqlalchemy import event

    from tests.factories import GridFactory

    for n in range(12):
        GridFactory(village=VillageFactory(town=towns["town"], name=f"新{n}村"))
    keeper = UserFactory(username="d_security", role=Role.SECURITY_ADMIN, town=None)
    db.session.flush()
    signin(keeper)
    db.session.expire_all()
    sent: list[str] = []

    def capture(conn, cursor, statement, *rest):
        sent.append(statement)

    engine = db.session.get_bind()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        page = client.get("/admin/users").get_data(as_text=True)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert f"{towns['town'].name}·" in page
    one_by_one = [s for s in sent if "FROM village" in s and "WHERE village.id =" in s]
    assert one_by_one == []


def test_a_move_between_towns_is_the_district_s_to_approve_and_nothing_asked_before_follows(
    world, towns
):
    """Moving a privileged account is decided by a second district keeper only (the town
    it leaves may not give it away, and the town it joins would never see it); an ask
    made of the account as it was (a reset password chosen in its old town, a move asked
    before its role changed) is withdrawn when its role or town changes; a raise and a
    move are asked one at a time."""
    from server.infra.errors import ValidationFailed as Refused
    from server.organisation import accounts
    from server.trust import approvals, passwords

    keeper = UserFactory(username="d_security", role=Role.SECURITY_ADMIN, town=None)
    second = UserFactory(username="d_security2", role=Role.SECURITY_ADMIN, town=None)
    there = UserFactory(username="o_security", role=Role.SECURITY_ADMIN, town=towns["town"])
    center, other = world.center, towns["town"].id

    def moves(user):
        return [a for a in approvals.pending(user) if a.kind == "move_town"]

    # The town's keeper asks a reset of its center's password, choosing it.
    assert not accounts.reset_password(center, "Chosen@There2026", actor=world.security)
    accounts.update_user(center, actor=keeper, department_id=None, grid_ids=[], town_id=other)
    assert moves(world.security) == []  # the town it leaves does not decide
    assert moves(there) == []
    (move,) = moves(second)
    approvals.approve(move.id, actor=second)
    db.session.flush()
    assert center.town_id == other
    # The reset its old town asked is withdrawn, not the new town's to grant.
    assert [a for a in approvals.pending(there) if a.kind == "reset_password"] == []
    assert not passwords.verify_password(center.password_hash, "Chosen@There2026")

    # A move asked of a center that then becomes a grid worker is withdrawn with the change.
    leader_center = UserFactory(username="o_center2", role=Role.CENTER, town=towns["town"])
    accounts.update_user(
        leader_center, actor=keeper, department_id=None, grid_ids=[], town_id=world.town.id
    )
    assert len(moves(second)) == 1
    accounts.update_user(
        leader_center,
        actor=there,
        role=Role.GRID_WORKER.value,
        department_id=None,
        grid_ids=[towns["grid"].grids[0].id],
    )
    assert moves(second) == []
    assert leader_center.town_id == other

    # A raise and a move in one save: refused in words, nothing asked.
    with pytest.raises(Refused) as refused:
        accounts.update_user(
            world.leader,
            actor=keeper,
            role=Role.CENTER.value,
            department_id=None,
            grid_ids=[],
            town_id=other,
        )
    assert refused.value.code == "one_at_a_time"


def test_a_slowed_account_is_told_to_its_own_keepers(world, towns):
    """Repeated failed sign-ins to a town's account are told to its town's security
    admins and the district's, not to another town's."""
    from server import auth

    other_security = UserFactory(
        username="o_security", role=Role.SECURITY_ADMIN, town=towns["town"]
    )
    district_security = UserFactory(username="d_security", role=Role.SECURITY_ADMIN, town=None)
    db.session.flush()
    auth._tell_security_admins(world.center, "10.0.0.9")
    db.session.flush()
    told = set(
        db.session.scalars(select(Notification.user_id).where(Notification.kind == "auth.slowed"))
    )
    assert world.security.id in told
    assert district_security.id in told
    assert other_security.id not in told
