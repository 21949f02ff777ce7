"""Every list of cases and every query of the sweep reads through an index of what it looks
for: no full scan of the cases or assignments, no sort of them in a temporary table
(issue 20). Checked on the plans each database makes for the statements the code sends.

SQLite is asked as a town's server runs it: without ANALYZE statistics (the app never
gathers them), so its plans come from the shape of the query and the indexes alone.
PostgreSQL is asked with sequential scans and sorts made prohibitively dear, so that on a
test's small tables it still shows whether an index *can* serve the statement in order:
if none can, the plan keeps its Seq Scan or Sort and the test fails.
"""

from __future__ import annotations

import dataclasses
import re
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, insert, select

from server.cases import access, queries, workflow
from server.cases import queue as triage
from server.db import db
from server.figures import partials
from server.follow_through import sweep
from server.infra import clock
from server.models import Case, CaseAssignment, Category, Role
from server.trust import identity
from tests.helpers import case_in

FULL_SCAN = {
    "sqlite": re.compile(r"^SCAN (case_file|case_assignment|case_event)\b(?!.*INDEX)"),
    "postgresql": re.compile(r"Seq Scan on (case_file|case_assignment|case_event)\b"),
}
LAZY_LOAD = re.compile(r"WHERE (\?|%\(\w+\)s) = \w+\.case_id\s*(ORDER BY|$)")
SORT = {
    "sqlite": re.compile(r"TEMP B-TREE"),
    "postgresql": re.compile(r"\bSort\b"),
}


@pytest.fixture
def town(world):
    """The test town with a few hundred cases of every kind, some sent to the police."""
    categories = db.session.scalars(select(Category.id)).all()
    now = clock.now()
    rows = []
    statuses = ["closed"] * 6 + ["submitted", "accepted", "in_progress", "rejected"]
    for i in range(300):
        status = statuses[i % len(statuses)]
        created = now - timedelta(hours=7 * i)
        is_open = status not in ("closed", "rejected")
        rows.append(
            {
                "code": f"P{i:011d}",
                "source": "grid_worker",
                "village_id": (world.v1 if i % 2 else world.v2).id,
                "town_id": world.town.id,
                "category_id": categories[i % len(categories)],
                "severity": "general",
                "risk_level": "yellow",
                "people_involved": 2,
                "description": "查询计划测试",
                "reporter_anonymous": i % 5 != 0,
                "reporter_name": None if i % 5 else b"sealed",
                "status": status,
                "lead_department_id": world.police.id if status == "in_progress" else None,
                "step": {"submitted": "accept", "accepted": "dispatch"}.get(status, "handle")
                if is_open
                else None,
                "due_at": created + timedelta(days=3) if is_open else None,
                "warn_at": created + timedelta(days=2) if is_open else None,
                "created_at": created,
                "updated_at": created,
                "closed_at": created + timedelta(days=2) if status == "closed" else None,
                "result_code": "mediated" if status == "closed" and i % 3 == 0 else None,
                "resolved_at": created + timedelta(days=1) if status == "closed" else None,
                "version": 1,
            }
        )
    db.session.execute(insert(Case.__table__), rows)
    ids = dict(db.session.execute(select(Case.code, Case.id).where(Case.code.like("P%"))).all())
    db.session.execute(
        insert(CaseAssignment.__table__),
        [
            {
                "case_id": ids[row["code"]],
                "department_id": world.police.id,
                "case_created_at": row["created_at"],
                "role": "lead",
                "assigned_at": row["created_at"],
                "ended_at": row["closed_at"],
                "case_open": row["due_at"] is not None,
                "case_status": row["status"],
                "case_village_id": row["village_id"],
            }
            for row in rows
            if row["status"] in ("closed", "in_progress")
        ],
    )
    db.session.flush()
    return world


@contextmanager
def plans():
    """Collect the plan of every SELECT on the cases sent inside the block."""
    sent: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        # One loaded case's own rows (its assignments, in order) are few whatever the
        # size of the town: a lazy load is not a list.
        if LAZY_LOAD.search(statement):
            return
        if statement.lstrip().upper().startswith("SELECT") and "case_" in statement:
            sent.append((statement, parameters))

    engine = db.session.get_bind()
    event.listen(engine, "before_cursor_execute", capture)
    found: list[list[str]] = []
    try:
        yield found
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    connection = db.session.connection()
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        connection.exec_driver_sql("SET LOCAL enable_sort = off")
    for statement, parameters in sent:
        prefix = "EXPLAIN (COSTS OFF) " if postgres else "EXPLAIN QUERY PLAN "
        rows = connection.exec_driver_sql(prefix + statement, parameters).all()
        found.append([statement] + [row[0] if postgres else row[-1] for row in rows])
    if postgres:
        connection.exec_driver_sql("SET LOCAL enable_seqscan = on")
        connection.exec_driver_sql("SET LOCAL enable_sort = on")


@contextmanager
def selects_from(table: str):
    """The SELECTs from `table` sent inside the block, as (statement, parameters)."""
    sent: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and f"FROM {table}" in statement:
            sent.append((statement, parameters))

    engine = db.session.get_bind()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def check(found: list[list[str]], *indexes: str) -> None:
    """No statement scans or sorts the cases; each of `indexes` serves one of them."""
    dialect = db.session.connection().dialect.name
    assert found, "no statement was sent"
    for statement, *plan in found:
        for line in plan:
            assert not FULL_SCAN[dialect].search(line.strip()), (line, statement, plan)
            assert not SORT[dialect].search(line), (line, statement, plan)
    text = "\n".join(line for _statement, *plan in found for line in plan)
    for index in indexes:  # "a|b": either serves (each database chooses by its costs)
        assert any(name in text for name in index.split("|")), (index, text)


F = queries.CaseFilters

LISTS = [
    # (who, filters, an index that must serve it: one of)
    ("center", F(), "ix_case_file_newest"),
    ("leader", F(), "ix_case_file_newest"),
    ("center", F(status="closed"), "ix_case_file_status_newest"),
    ("center", F(status="submitted"), "ix_case_file_"),
    ("center", F(village="v1"), "ix_case_file_village_newest"),
    ("center", F(category="D02"), "ix_case_file_category_newest"),
    ("center", F(overdue=True), "ix_case_file_open_newest"),
    ("center", F(overdue=False), "ix_case_file_newest"),
    ("center", F(awaiting_review=True), "ix_case_file_review"),
    ("worker1", F(), "ix_case_file_village_newest"),
    (
        "worker1",
        F(status="closed"),
        "ix_case_file_village_status_newest|ix_case_file_status_newest",
    ),
    (
        "worker1",
        F(status="rejected"),
        "ix_case_file_village_status_newest|ix_case_file_status_newest",
    ),
    ("worker1", F(overdue=True), "ix_case_file_open_village_newest"),
    ("worker1", F(category="D02"), "ix_case_file_village_category_newest"),
    ("center", F(village="v1", category="D02"), "ix_case_file_village_category_newest"),
    ("worker1", F(awaiting_review=True), "ix_case_file_review_village"),
    ("police_handler", F(), "ix_case_assignment_department_newest"),
    ("police_handler", F(status="closed"), "ix_case_assignment_department_status"),
    ("police_handler", F(status="in_progress"), "ix_case_assignment_department_status"),
    ("police_handler", F(overdue=True), "ix_case_assignment_department_open_case"),
    ("police_handler", F(awaiting_review=True), "ix_case_file_review"),
    ("police_handler", F(category="D02"), "ix_case_assignment_department_newest"),
    ("police_handler", F(status="rejected"), "ix_case_assignment_department_status"),
    ("police_handler", F(village="v1"), "ix_case_assignment_department_village"),
    (
        "police_handler",
        F(status="closed", village="v1"),
        "ix_case_assignment_department_status|ix_case_assignment_department_village",
    ),
]


@pytest.mark.parametrize(("who", "filters", "index"), LISTS)
def test_each_list_reads_in_order_from_an_index_of_what_it_shows(town, who, filters, index):
    user = getattr(town, who)
    if filters.village == "v1":
        filters = dataclasses.replace(filters, village=town.v1.id)
    with plans() as found:
        first = queries.list_cases(user, filters, limit=5)
        if first.next_cursor:  # the next page seeks from the cursor the same way
            queries.list_cases(user, filters, limit=5, cursor=first.next_cursor)
    check(found, index)


QUEUES = [
    ("center", triage.QueueFilters(), "ix_case_file_queue"),
    ("center", triage.QueueFilters(village="v1"), "ix_case_file_queue_village"),
    ("center", triage.QueueFilters(category="D02"), "ix_case_file_queue_category"),
    ("center", triage.QueueFilters(status="accepted"), "ix_case_file_queue_status"),
    ("center", triage.QueueFilters(status="closed"), "ix_case_file_status_updated"),
    ("center", triage.QueueFilters(overdue=True), "ix_case_file_queue"),
    ("police_handler", triage.QueueFilters(), "ix_case_file_queue"),
    # A town's desk (what it holds), and what went up to the district (few).
    ("center", triage.QueueFilters(desk="town"), "ix_case_file_queue"),
    ("center", triage.QueueFilters(desk="district"), "ix_case_file_district_held"),
]


@pytest.mark.parametrize(("who", "filters", "index"), QUEUES)
def test_the_queue_reads_in_order_from_its_indexes(town, who, filters, index):
    user = getattr(town, who)
    if filters.village == "v1":
        filters = triage.QueueFilters(village=town.v1.id)
    with plans() as found:
        page = triage.page(user, filters, limit=5)
        if page.next_cursor:
            triage.page(user, filters, limit=5, cursor=page.next_cursor)
        triage.counts(user, filters)
    check(found, index)


def test_the_queue_counts_and_the_held_reports_read_their_indexes_alone(town):
    center = town.center
    with plans() as found:
        triage.counts(center, triage.QueueFilters())
    check(found, "ix_case_file_queue_status")
    if db.session.connection().dialect.name == "sqlite":  # covering: no row is visited
        # One statement, an arm for each open status, each read from the index alone.
        searches = [line for plan in found for line in plan[1:] if "case_file" in line]
        assert len(searches) == len(workflow.OPEN), found
        assert all("COVERING INDEX ix_case_file_queue_status" in line for line in searches)
    with plans() as found:
        triage.held_count(center)
        triage.page(center, triage.QueueFilters(held=True))
    check(found, "ix_case_file_held")
    # The town's desk: its counts from the status index alone, less the district's few.
    with plans() as found:
        triage.counts(center, triage.QueueFilters(desk="town"))
    check(found, "ix_case_file_queue_status", "ix_case_file_district_status")
    # The district's few, counted on every town's page and on the district's desk: each
    # count from their own index, never from all the open cases of a status or a town
    # (SQLite did both: 80 ms a page at a million cases).
    from tests.factories import UserFactory

    held = db.session.scalars(
        select(Case).where(Case.due_at.is_not(None)).order_by(Case.id).limit(7)
    ).all()
    for case in held:
        case.held_by_district = True
    db.session.flush()
    district = UserFactory(username="d_center", role=Role.CENTER, town=None)
    for user in (center, district):
        with plans() as found:
            up = triage.with_district_count(user)
            by_status = triage.counts(user, triage.QueueFilters(desk="district"))
        assert up == sum(by_status.values()) == len(held)
        assert by_status["accepted"] == sum(c.status.value == "accepted" for c in held)
        check(found, "ix_case_file_district_status")
        for _statement, *plan in found:  # either of the two that hold the few alone
            assert "ix_case_file_district_" in " ".join(plan), plan
            if db.session.connection().dialect.name == "sqlite":
                assert "COVERING INDEX" in " ".join(plan), plan


def test_the_district_s_few_are_read_from_their_own_indexes_whatever_the_indexes_ages(town):
    """SQLite, with no statistics, breaks a tie between indexes by their age, and the
    cases table's oldest indexes differ with the process that migrated it
    (test_migrations.py). The district's desk and the counts of what went up must read
    the district's own indexes even when every other index of the cases is younger: a
    copy of the schema where each is made again, asked the statements the code sends."""
    import sqlite3

    from tests.factories import UserFactory

    if db.session.connection().dialect.name != "sqlite":
        pytest.skip("SQLite's ages; PostgreSQL plans by its statistics")
    district = UserFactory(username="d_center", role=Role.CENTER, town=None)
    db.session.flush()
    with selects_from("case_file") as sent:
        for user in (town.center, district):
            triage.page(user, triage.QueueFilters(desk="district"), limit=5)
            triage.counts(user, triage.QueueFilters(desk="district"))
            triage.with_district_count(user)
    # The schema as migrated (the file's committed state; this test's rows are not needed).
    copy = sqlite3.connect(":memory:")
    with sqlite3.connect(db.engine.url.database) as source:
        source.backup(copy)
    others = copy.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'case_file'"
        " AND sql IS NOT NULL AND name NOT LIKE 'ix_case_file_district_%'"
    ).fetchall()
    assert len(others) > 10
    for name, sql in others:  # each made again: now younger than the district's
        copy.execute(f'DROP INDEX "{name}"')
        copy.execute(sql)
    assert sent
    for statement, parameters in sent:
        plan = " ".join(
            row[-1] for row in copy.execute("EXPLAIN QUERY PLAN " + statement, parameters)
        )
        assert "INDEX ix_case_file_district_" in plan, (plan, statement)


def test_a_village_s_open_cases_are_read_from_the_open_cases_index(town):
    """The dashboard's open, supervised and late counts of a village, and the late steps of
    a town's villages (a town's rolling year in a district), read the partial index of the
    open cases, not every case of the village. SQLite, without statistics, gives a tie to
    the youngest index: made last, the index of a village's cases by category took these
    (a review measured 0.5 -> 24 ms at half a million cases), until its migration made it
    younger than the village's own index only (server/migrations/index_ages.py's place)."""
    from server.figures import standing, statistics

    today = clock.local(clock.now()).date()
    start, end = statistics.month(today.year, today.month).bounds
    names = {town.v1.id: town.v1.name, town.v2.id: town.v2.name}
    with plans() as found:
        standing.standing(names, town.v1.id, None)
        statistics._late_open_steps(start, end, town.v1.id, None)
        statistics._late_open_steps(start, end, [town.v1.id, town.v2.id], None)
    dialect = db.session.connection().dialect.name
    by_village = re.compile(r"WHERE .*case_file\.village_id (=|IN)", re.DOTALL)
    village_reads = [found_ for found_ in found if by_village.search(found_[0])]
    assert len(village_reads) >= 3, found
    for statement, *plan in found:
        for line in plan:  # a few open cases grouped (by department, step) may be sorted
            assert not FULL_SCAN[dialect].search(line.strip()), (line, statement, plan)
    if dialect == "sqlite":  # PostgreSQL chooses by its statistics, not by age
        for statement, *plan in village_reads:
            lines = " ".join(plan)
            assert "ix_case_file_open_village_newest" in lines or "queue_village" in lines, (
                plan,
                statement,
            )


def test_what_awaits_review_reads_each_case_s_own_events(town):
    case_in("return_pending", town)
    with plans() as found:
        items = triage.awaiting_review(town.center)
    assert [item.kind for item in items] == ["return"]
    check(found, "ix_case_file_review", "ix_case_event_case_at")


def test_the_sweep_reads_only_what_it_must_chase(town):
    with plans() as found:
        sweep._due(clock.now(), 500)
    check(found, "ix_case_file_sweep_warn", "ix_case_file_sweep_due")


def test_the_judicial_confirmation_reminder_reads_only_its_window(town, app):
    with plans() as found:
        sweep.remind_judicial_confirmation(clock.now())
    check(found, "ix_case_file_mediated", "ix_case_document_kind_signed")


def test_the_sweep_asks_which_months_are_kept_of_an_index_alone(town):
    """The months' kept figures fill overflow pages (SQLite): which months are kept is
    read from the index of (version, month), never from the rows, whatever the months
    (a quiet sweep at 1M cases over ten years read 96 rows, 7.7 ms of its 16 ms)."""
    with selects_from("monthly_figures") as sent:
        partials.keep_month_figures()
    connection = db.session.connection()
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    assert sent
    for statement, parameters in sent:
        prefix = "EXPLAIN (COSTS OFF) " if postgres else "EXPLAIN QUERY PLAN "
        plan = " ".join(
            row[0] if postgres else row[-1]
            for row in connection.exec_driver_sql(prefix + statement, parameters)
        )
        assert "ix_monthly_figures_version" in plan, (statement, plan)
        # PostgreSQL keeps the figures out of line (TOAST): its rows are small to read.
        assert postgres or "COVERING INDEX" in plan, (statement, plan)
    if postgres:
        connection.exec_driver_sql("SET LOCAL enable_seqscan = on")


def test_the_identity_purge_reads_only_cases_that_hold_one(town, app):
    with plans() as found:
        identity.purge(int(app.config["IDENTITY_RETENTION_DAYS"]))
    check(found, "ix_case_file_identity_held")


SHOWN = [
    F(),
    F(status="closed"),
    F(status="in_progress"),
    F(status="rejected"),
    F(overdue=True),
    F(village="v1"),
    F(status="closed", village="v1"),
]


@pytest.mark.parametrize("filters", SHOWN)
@pytest.mark.parametrize("who", ["police_handler", "justice_handler", "worker1", "center"])
def test_each_list_shows_exactly_what_the_access_policy_allows(town, who, filters):
    # The lists driven from a department's assignments apply the policy by their join:
    # page through to the end and compare with the policy's own WHERE clause.
    user = getattr(town, who)
    if filters.village == "v1":
        filters = dataclasses.replace(filters, village=town.v1.id)
    listed, cursor = [], None
    while True:
        page = queries.list_cases(user, filters, limit=7, cursor=cursor)
        listed += [case.id for case in page.items]
        if not (cursor := page.next_cursor):
            break
    allowed = db.session.scalars(
        select(Case.id)
        .where(access.case_filter(user), *queries._conditions(filters))
        .order_by(Case.created_at.desc(), Case.id.desc())
    ).all()
    assert listed == allowed
    assert len(set(listed)) == len(listed)


def test_the_brief_reads_the_month_and_the_open_cases_through_their_indexes(town):
    """The joint meeting's group disputes and 民转刑 risks are those received in the month
    or open now: read as the union of the received time's index and the open cases'
    partial index, not by a scan of every case (server/figures/brief.py)."""
    from server.figures import brief, statistics

    today = clock.local(clock.now()).date()
    period = statistics.month(today.year, today.month)
    with plans() as found:
        for item in ("group", "criminal"):
            brief._count(brief.conditions(item, period))
    check(
        found,
        "ix_case_file_newest|ix_case_file_received|ix_case_file_status_newest",
        "ix_case_file_open|ix_case_file_queue",  # partial indexes of the open cases
    )


def test_the_league_reads_the_month_s_dispatches_and_late_steps_through_their_indexes(town):
    """The league tables' counts of the cases dispatched in a month (to each department,
    village and grid worker) read the lead assignments of the month from their index,
    not every assignment ever made; the steps gone late are sought among the open cases,
    not walked case by case in a department's order (server/figures/league.py)."""
    from server.figures import league, statistics

    today = clock.local(clock.now()).date()
    period = statistics.month(today.year, today.month)
    start, end = period.bounds
    with selects_from("case_assignment") as assignments, selects_from("case_file") as cases:
        for kind in league.ALL_KINDS:
            league._counts(kind, start, end)
    dispatched = [(s, p) for s, p in assignments if "assigned_at" in s]
    late = [(s, p) for s, p in cases if "due_at <" in s and "step" in s]
    assert (len(dispatched), len(late)) == (3, 6)  # each kind's, and each step's
    with plans() as found:
        connection = db.session.connection()
        for statement, parameters in dispatched + late:
            connection.exec_driver_sql(statement, parameters).all()
    dialect = db.session.connection().dialect.name
    for statement, *plan in found:
        for line in plan:
            assert not FULL_SCAN[dialect].search(line.strip()), (line, statement, plan)
            assert "lead_department_status" not in line, (line, statement, plan)
    text = "\n".join(line for _statement, *plan in found for line in plan)
    assert len(re.findall(r"ix_case_assignment_lead_assigned\b", text)) == 3, text


def test_a_town_s_league_reads_its_villages_month_through_the_same_indexes(town):
    """A town's league tables (in a district of several) read the month through the same
    indexes, bounded by the town's villages: no scan, and the month's received reports
    counted on the received index alone, not through each village's whole history."""
    from server.figures import league, statistics

    today = clock.local(clock.now()).date()
    start, end = statistics.month(today.year, today.month).bounds
    villages = (town.v1.id, town.v2.id)
    with plans() as found:
        for kind in league.ALL_KINDS:
            league._counts(kind, start, end, villages)
        league._received(start, end, villages)
    dialect = db.session.connection().dialect.name
    for statement, *plan in found:
        for line in plan:
            assert not FULL_SCAN[dialect].search(line.strip()), (line, statement, plan)
            assert "lead_department_status" not in line, (line, statement, plan)
    received = [plan for statement, *plan in found if "FROM case_file" in statement][-1]
    # The month's entries (PostgreSQL may take the newest-first index on a small table).
    assert any(re.search(r"ix_case_file_(received|newest)\b", line) for line in received)
    assert not any(re.search(r"ix_case_file_\w*village", line) for line in received), received


def test_a_town_s_dashboard_counts_its_reports_and_repeat_disputes_on_their_own_indexes(town):
    """A town's dashboard (in a district of several) counts the reports its villages
    received and their repeat disputes on the received index and the repeat disputes'
    partial index, each village tested on their entries: sought village by village, SQLite
    read every case of each village in the period instead (a town's year: 334 ms for the
    repeat disputes alone at 1M cases)."""
    from server.figures import statistics

    today = clock.local(clock.now()).date()
    start, end = statistics.year(today.year).bounds
    villages = (town.v1.id, town.v2.id)
    with plans() as found:
        partials.received_rows(start, end, village_id=villages)
        statistics._repeat_disputes(start, end, villages, None)
    dialect = db.session.connection().dialect.name
    for statement, *plan in found:
        for line in plan:
            assert not FULL_SCAN[dialect].search(line.strip()), (line, statement, plan)
            assert not re.search(r"ix_case_file_\w*village", line), (line, statement, plan)
    received, repeats = (plan for _statement, *plan in found)
    # PostgreSQL may take the newest-first index on a small table.
    assert any(re.search(r"ix_case_file_(received|newest)\b", line) for line in received)
    assert any(re.search(r"ix_case_file_repeat\b", line) for line in repeats), repeats
    # Narrowed to a category, each village's cases of it are sought (tested, the
    # category's cases of the whole district would be read).
    category = db.session.scalar(select(Category.id).order_by(Category.id))
    with plans() as narrowed:
        partials.received_rows(start, end, village_id=villages, category_ids=[category])
        statistics._repeat_disputes(start, end, villages, [category])
    for statement, *plan in narrowed:
        for line in plan:
            assert not FULL_SCAN[dialect].search(line.strip()), (line, statement, plan)
        text = "\n".join(plan)
        if dialect == "sqlite":  # PostgreSQL chooses by its costs on a small table
            assert "ix_case_file_village_category_newest" in text, (statement, plan)
