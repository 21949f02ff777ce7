"""The migrations build exactly the schema the models describe, and can be undone."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import CheckConstraint, delete, inspect, text

from server.db import db
from server.models.search import include_name


def test_models_and_migrations_agree(session):
    context = MigrationContext.configure(
        session.connection(), opts={"compare_type": True, "include_name": include_name}
    )
    assert compare_metadata(context, db.metadata) == []


def test_check_constraints_match_the_models(session):
    """compare_metadata ignores CHECK constraints: compare their names table by table."""
    inspector = inspect(session.connection())
    for table in db.metadata.sorted_tables:
        in_database = {c["name"] for c in inspector.get_check_constraints(table.name)}
        in_models = {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
        for column in table.columns:  # enum columns carry their own named check
            if getattr(column.type, "create_constraint", False):
                in_models.add(f"ck_{table.name}_{column.type.name}")
        assert in_database == in_models, table.name
    assert "ck_case_file_dispatched_has_department" in {
        c["name"] for c in inspector.get_check_constraints("case_file")
    }


def test_downgrade_to_empty_and_back(fresh_app):
    with fresh_app.app_context():
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert "case_file" in inspect(db.engine).get_table_names()


def test_the_database_refuses_a_dispatched_case_without_department(world, session):
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from tests.helpers import case_in

    case = case_in("accepted", world)
    for statement in (
        "UPDATE case_file SET status = 'dispatched' WHERE id = :id",
        "UPDATE case_file SET status = 'closed' WHERE id = :id",
        "UPDATE case_file SET status = 'done' WHERE id = :id",
    ):
        savepoint = session.begin_nested()
        with pytest.raises(IntegrityError):
            session.execute(text(statement), {"id": case.id})
        savepoint.rollback()


def _a_life(w):
    """A dispute's life: accepted, mediated, visited, back again, mediated again."""
    return (
        ("accept", w.center, {}),
        ("dispatch", w.center, {"lead_department": w.justice.id}),
        ("sign_for", w.justice_handler, {}),
        ("resolve", w.justice_handler, {"result_code": "mediated", "result_text": "调解成功"}),
        ("verify", w.center, {}),
        (
            "record_visit",
            w.worker1,
            {"text": "又吵", "outcome": "back_again", "satisfaction": "dissatisfied"},
        ),
        ("dispatch", w.center, {"lead_department": w.justice.id}),
        ("sign_for", w.justice_handler, {}),
        ("resolve", w.justice_handler, {"result_code": "mediated", "result_text": "调解成功"}),
    )


def test_the_figures_migration_gives_old_events_what_the_workflow_writes(fresh_app):
    """Events written before case_event had the figures' columns get the same values."""
    from sqlalchemy import select

    from server.cases import workflow
    from server.models import CaseEvent
    from tests.factories import build_world
    from tests.helpers import new_report

    columns = [
        getattr(CaseEvent, name)
        for name in (
            "id",
            "action",
            "step",
            "step_due_at",
            "previous_at",
            "previous_result_at",
            "previous_counted_at",
            "village_id",
            "category_id",
            "seconds_since_report",
            "result",
        )
    ]
    with fresh_app.app_context():
        w = build_world()
        case = new_report(w, "D02", parties=[])
        for action, actor, fields in _a_life(w):
            workflow.apply(case, action, actor=actor, **fields)
        db.session.commit()
        written = db.session.execute(select(*columns).order_by(CaseEvent.id)).all()
        db.session.remove()
        assert any(row.previous_at for row in written)
        assert any(row.previous_result_at for row in written)

        downgrade(revision="0c9900f6bb2e")
        upgrade()
        assert db.session.execute(select(*columns).order_by(CaseEvent.id)).all() == written


def test_a_case_s_memory_of_its_timeline_is_filled_from_its_events(fresh_app):
    """Cases of before `last_events` get what the workflow would have kept, so that the
    next event of an old case carries the facts a query over its events gave."""
    from sqlalchemy import select

    from server.cases import workflow
    from server.models import Case
    from tests.factories import build_world
    from tests.helpers import new_report

    with fresh_app.app_context():
        w = build_world()
        case = new_report(w, "D02", parties=[])
        for action, actor, fields in _a_life(w):
            workflow.apply(case, action, actor=actor, **fields)
        db.session.commit()
        kept = db.session.scalar(select(Case.last_events).where(Case.id == case.id))
        db.session.remove()
        assert {"accept", "resolve", "resolve=mediated", "reopen", "*counted"} <= set(kept)

        downgrade(revision="b7c41f2a9d3e")
        upgrade()
        assert db.session.scalar(select(Case.last_events).where(Case.id == case.id)) == kept
        db.session.remove()


def test_the_search_migration_indexes_the_cases_filed_before(fresh_app):
    """Cases of before search are found by their words and, by the center, by phone."""
    from server.cases import search
    from server.cases.operations import Party, Reporter
    from tests.factories import build_world
    from tests.helpers import new_report

    with fresh_app.app_context():
        w = build_world()
        case = new_report(
            w,
            description="村东头的老槐树倒了，压坏了两户的院墙。",
            place_text="东头胡同",
            parties=[Party("周九", phone="13611112222")],
            reporter=Reporter(anonymous=False, name="吴十", phone="13500001111"),
            actor=None,
            source="qr",
        )
        db.session.commit()
        code = case.code
        db.session.remove()

        downgrade(revision="e5a9c3d17f42")
        upgrade()
        w.center, w.worker1, w.worker2 = (
            db.session.merge(u) for u in (w.center, w.worker1, w.worker2)
        )
        for user, query, matched in (
            (w.worker1, "槐树", "描述、地点或当事人"),
            (w.worker1, "东头胡同", "描述、地点或当事人"),
            (w.worker1, "周九", "描述、地点或当事人"),
            (w.center, "135 0000 1111", "举报人电话"),
            (w.center, "+86 136-1111-2222", "当事人电话"),
            (w.center, "吴十", "举报人姓名"),
        ):
            hits = search.search(user, query).hits
            assert [(h.case.code, h.matched) for h in hits] == [(code, matched)], query
        assert search.search(w.worker2, "槐树").hits == []
        db.session.remove()


def test_the_cases_sent_before_carry_their_departments_terms(fresh_app):
    """e4b8d2f6a1c3: each case sent to departments before is found by each of them, its
    terms in the order they were sent it; the downgrade takes the terms out again. One
    case a batch (`-x search_batch=1`), so that every batch's edge is crossed."""
    from server.cases import search, workflow
    from tests.factories import build_world
    from tests.helpers import new_report

    with fresh_app.app_context():
        w = build_world()
        first = new_report(w, description="两家为宅基地界址争执不下。")
        untouched = new_report(w, description="宅基地上堆放杂物。")
        last = new_report(w, description="宅基地旁的排水沟堵了。")
        for case in (first, last):
            workflow.apply(case, "accept", actor=w.center)
        workflow.apply(
            first,
            "dispatch",
            actor=w.center,
            lead_department=w.justice.id,
            co_departments=[w.police.id],
        )
        workflow.apply(
            first, "reassign", actor=w.center, lead_department=w.safety.id, reason="改派"
        )
        workflow.apply(last, "dispatch", actor=w.center, lead_department=w.police.id)
        db.session.commit()
        codes = {"first": first.code, "last": last.code}
        ids = [first.id, untouched.id, last.id]
        before = dict(db.session.execute(text("SELECT case_id, body FROM case_search")).all())
        assert before[ids[0]].endswith(f" _d{w.justice.id} _d{w.police.id} _d{w.safety.id}")
        assert before[ids[2]].endswith(f"李四 四 _d{w.police.id}")
        db.session.remove()

        downgrade(revision="d3a7f1c9e5b2", x_arg=["search_batch=1"])
        down = dict(db.session.execute(text("SELECT case_id, body FROM case_search")).all())
        assert down == {case_id: body.split(" _d")[0] for case_id, body in before.items()}
        assert down[ids[1]] == before[ids[1]]
        db.session.remove()
        upgrade(x_arg=["search_batch=1"])
        after = dict(db.session.execute(text("SELECT case_id, body FROM case_search")).all())
        assert after == before
        for handler, found in (
            (w.justice_handler, ["first"]),
            (w.police_handler, ["last", "first"]),
            (w.safety_handler, ["first"]),
            (w.enforcement_handler, []),
        ):
            hits = search.search(db.session.merge(handler), "宅基地").hits
            assert [h.case.code for h in hits] == [codes[name] for name in found]
        db.session.remove()


def test_the_district_handover_downgrades_only_with_no_district_department(fresh_app, caplog):
    """Going back past e2b5d8a4c6f1 would leave a district department without its town
    (NOT NULL) and its handlers without one (CHECK): refused in words, nothing changed;
    without them it goes back and up again."""
    import pytest

    from server.models import Department, DepartmentKind, Role
    from tests.factories import DepartmentFactory, UserFactory, build_world

    with fresh_app.app_context():
        build_world()
        bureau = DepartmentFactory(town=None, name="区公安分局", kind=DepartmentKind.OTHER)
        UserFactory(username="d_police", role=Role.HANDLER, department=bureau)
        db.session.commit()
        db.session.remove()
        with pytest.raises(SystemExit):  # Flask-Migrate logs the error and exits 1
            downgrade(revision="c81d2e4f7a93")
        assert "1 district department(s) and 1 district handler" in caplog.text
        db.session.remove()
        assert "held_by_district" in {
            c["name"] for c in inspect(db.engine).get_columns("case_file")
        }
        db.session.execute(text("DELETE FROM user_account WHERE username = 'd_police'"))
        db.session.execute(delete(Department).where(Department.town_id.is_(None)))
        db.session.commit()
        db.session.remove()
        downgrade(revision="c81d2e4f7a93")
        assert "held_by_district" not in {
            c["name"] for c in inspect(db.engine).get_columns("case_file")
        }
        upgrade()
        assert "held_by_district" in {
            c["name"] for c in inspect(db.engine).get_columns("case_file")
        }


def test_a_rebuilt_table_keeps_its_indexes_ages_whatever_the_process(tmp_path):
    """SQLite breaks a tie between two indexes by their age (server/migrations/
    index_ages.py), and a batch migration rebuilds a table's indexes in an order of
    Python's hashing: two processes migrating with different hash seeds must leave the
    same order, or a list's plan changes with the process that migrated the database
    (it did, for a department's overdue cases, before b4f7c2e9a815 kept the ages).
    (The cases' table's oldest indexes still differ from process to process: migrations
    before a7e3c91d5f20 rebuilt it without keeping them, and that one kept the order it
    found. No plan depends on those: tests/test_query_plans.py passes whatever the seed.)"""
    import os
    import sqlite3
    import subprocess
    import sys

    from tests.conftest import TEST_DATABASE_URL

    if TEST_DATABASE_URL.startswith("postgresql"):
        pytest.skip("SQLite's index ages; PostgreSQL plans by its statistics")
    script = (
        "import sys\n"
        "from flask_migrate import upgrade\n"
        "from server import create_app\n"
        "app = create_app({'DATABASE_URL': 'sqlite:///' + sys.argv[1]})\n"
        "with app.app_context():\n"
        "    upgrade()\n"
    )
    orders = []
    for seed in ("1", "2", "3"):
        path = tmp_path / f"seed-{seed}.sqlite3"
        env = os.environ | {"PYTHONHASHSEED": seed, "INSTANCE_PATH": str(tmp_path)}
        subprocess.run([sys.executable, "-c", script, str(path)], env=env, check=True)
        with sqlite3.connect(path) as connection:
            orders.append(
                {
                    table: [row[1] for row in connection.execute(f"PRAGMA index_list('{table}')")]
                    for table in ("case_assignment",)
                }
            )
    assert orders[0] == orders[1] == orders[2]


def test_numbers_given_before_towns_counted_apart_become_their_case_s_town_s(fresh_app):
    """Going up to e7b1d4c8a2f6, the counters there were become the first town's (the only
    one there was), and each paper and archive entry its case's town; the next number
    follows on from the last one given."""
    from sqlalchemy import select

    from server.casefile import archive, documents, numbering
    from server.infra import clock
    from server.models import CaseArchive, CaseDocument
    from tests.factories import build_world
    from tests.helpers import new_report

    with fresh_app.app_context():
        w = build_world()
        case = new_report(w)
        documents.make(case, "application", actor=w.center)
        archive.file_case(case, at=clock.now(), actor=None)
        db.session.commit()
        town_id, case_id = w.town.id, case.id
        db.session.remove()

        downgrade(revision="c4e8a2b6d9f3")
        assert "town_id" not in {c["name"] for c in inspect(db.engine).get_columns("case_archive")}
        upgrade()
        document = db.session.scalar(select(CaseDocument).where(CaseDocument.case_id == case_id))
        entry = db.session.scalar(select(CaseArchive).where(CaseArchive.case_id == case_id))
        assert (document.town_id, entry.town_id) == (town_id, town_id)
        town = document.case.town
        assert numbering.take("application", document.year, town) == 2  # follows on
        assert numbering.take("rights_notice", document.year, town) == 1
        db.session.rollback()
        db.session.remove()


def test_each_town_s_counters_go_on_from_its_own_papers_of_the_shared_sequence(fresh_app):
    """Before e7b1d4c8a2f6 two towns drew from one sequence: one town's papers are 1 and
    3, the other's 2. After it each town's counter goes on from its own highest, so the
    second town's next is 3 (not 1, which would reach its 2 and be refused forever)."""
    from sqlalchemy import select

    from server.casefile import numbering
    from server.models import NumberCounter, Town
    from tests.factories import build_towns, build_world
    from tests.helpers import new_report

    with fresh_app.app_context():
        w = build_world()
        t = build_towns()
        cases = [
            new_report(w).id,
            new_report(w, village=t["village"], actor=t["grid"]).id,
            new_report(w).id,
        ]
        db.session.commit()
        creator = w.center.id
        here, there = w.town.id, t["town"].id
        db.session.remove()
        downgrade(revision="c4e8a2b6d9f3")
        for serial, case_id in enumerate(cases, start=1):
            db.session.execute(
                text(
                    "INSERT INTO case_document (case_id, kind, year, serial, number, content,"
                    " created_by_id, created_at, version) VALUES (:case, 'application', 2026,"
                    " :serial, :number, '{}', :user, '2026-06-01 00:00:00', 1)"
                ),
                {
                    "case": case_id,
                    "serial": serial,
                    "number": f"〔2026〕大调申字第{serial}号",
                    "user": creator,
                },
            )
        for serial, case_id in enumerate(cases[1:], start=1):  # the other town's first
            db.session.execute(
                text(
                    "INSERT INTO case_archive (case_id, year, serial, number, retention,"
                    " archived_at) VALUES (:case, 2026, :serial, :number, 'short',"
                    " '2026-06-02 00:00:00')"
                ),
                {"case": case_id, "serial": serial, "number": f"〔2026〕大档字第{serial}号"},
            )
        db.session.execute(
            text(
                "INSERT INTO number_counter (year, kind, last) VALUES (2026, 'application', 3),"
                " (2026, 'archive', 2)"
            )
        )
        db.session.commit()
        db.session.remove()
        upgrade()
        counters = {(c.town_id, c.kind): c.last for c in db.session.scalars(select(NumberCounter))}
        assert counters == {
            (here, "application"): 3,
            (there, "application"): 2,
            (there, "archive"): 1,
            (here, "archive"): 2,
        }
        assert numbering.take("application", 2026, db.session.get(Town, there)) == 3
        db.session.rollback()
        db.session.remove()


def test_the_league_standards_there_were_become_the_district_s(fresh_app, caplog):
    """Going up to b5f2d8e3a1c9 (the table made again with a key of its own), the standards
    the admin had set become the district's, which every town follows; going down keeps
    them, and is refused in words while a town keeps a set of its own."""
    from server.figures import league
    from tests.factories import build_world

    with fresh_app.app_context():
        w = build_world()
        new = dict(league.DEFAULTS) | {"resolve": league.Standard(40, 85.0, 5)}
        league.set_standards(new, actor=w.admin)
        db.session.commit()
        town_id = w.town.id
        db.session.remove()

        downgrade(revision="e7b1d4c8a2f6")
        columns = {c["name"] for c in inspect(db.engine).get_columns("league_standard")}
        assert "town_id" not in columns
        upgrade()
        assert league.standards(None) == new
        assert league.standards(town_id) == new
        db.session.remove()
        downgrade(revision="e7b1d4c8a2f6")
        weights = "SELECT weight FROM league_standard WHERE measure = 'resolve'"
        assert db.session.scalar(text(weights)) == 40
        db.session.remove()
        upgrade()
        db.session.execute(
            text("UPDATE league_standard SET town_id = :t WHERE measure = 'resolve'"),
            {"t": town_id},
        )
        db.session.commit()
        db.session.remove()
        with pytest.raises(SystemExit):  # Flask-Migrate logs the error and exits 1
            downgrade(revision="e7b1d4c8a2f6")
        assert "towns have league standards of their own" in caplog.text
        db.session.remove()
        assert league.standards(town_id)["resolve"] == new["resolve"]  # nothing changed
        db.session.remove()


def test_going_down_past_the_audit_town_and_up_again_keeps_the_chain_whole(fresh_app):
    """Going down past a8d4c6e2f1b3 sets the entries' towns aside (their hashes cover
    them) and going up again puts them back: the chain verifies as before."""
    from sqlalchemy import select

    from server.models import AuditEntry
    from server.trust import audit
    from tests.factories import build_world

    with fresh_app.app_context():
        w = build_world()
        audit.record("case.viewed", actor=w.center, object_type="case", object_id="KEPT-1")
        db.session.commit()
        town_id = w.town.id
        db.session.remove()

        downgrade(revision="b5f2d8e3a1c9")
        assert "audit_entry_town_kept" in inspect(db.engine).get_table_names()
        upgrade()
        assert "audit_entry_town_kept" not in inspect(db.engine).get_table_names()
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.object_id == "KEPT-1"))
        assert (entry.town_kept, entry.town_id) == (True, town_id)
        assert audit.verify().broken_at is None
        db.session.remove()
        # Down past the chain, nothing of it is left.
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()


def test_the_entries_before_the_audit_town_take_their_actor_s_town(fresh_app):
    """An entry written before a8d4c6e2f1b3 keeps no town of its own: the upgrade gives it
    its actor's town, and that town's auditor reads it."""
    from sqlalchemy import select

    from server.models import AuditEntry, User
    from server.trust import audit
    from tests.factories import build_world

    with fresh_app.app_context():
        w = build_world()
        db.session.commit()
        center_id, town_id = w.center.id, w.town.id
        db.session.remove()
        downgrade(revision="b5f2d8e3a1c9")
        db.session.execute(
            text(
                "INSERT INTO audit_entry (at, actor_id, action, object_type, object_id, detail)"
                " VALUES (CURRENT_TIMESTAMP, :actor, 'case.viewed', 'case', 'OLD-1', '{}')"
            ),
            {"actor": center_id},
        )
        db.session.commit()
        db.session.remove()
        upgrade()
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.object_id == "OLD-1"))
        assert (entry.town_kept, entry.town_id) == (False, town_id)
        for auditor_town, reads in ((town_id, True), (None, True), (town_id + 1000, False)):
            auditor = User(town_id=auditor_town)
            found = db.session.scalar(
                select(AuditEntry.id).where(AuditEntry.id == entry.id, audit.readable_by(auditor))
            )
            assert (found is not None) == reads, auditor_town
        db.session.remove()


def test_the_kept_months_reports_are_kept_again_with_their_towns(fresh_app):
    """The upgrade that keeps each town's part of a month's reports marks the kept months
    the sweep still looks at (the last 96) to be kept again, and leaves older ones be."""
    from datetime import UTC, date, datetime

    from sqlalchemy import insert, select

    from server.models import MonthlyReceived

    table = MonthlyReceived.__table__
    received = {"source": {}, "category": {}, "village": {}}
    recent = date(datetime.now(UTC).year - 1, 6, 1)
    with fresh_app.app_context():
        downgrade(revision="f5c9e3a7b2d4")
        db.session.execute(
            insert(table),
            [
                {"month": month, "revision": 3, "kept_revision": 3, "received": received}
                for month in (recent, date(2010, 1, 1))
            ],
        )
        db.session.commit()
        db.session.remove()
        upgrade()
        kept = dict(db.session.execute(select(table.c.month, table.c.kept_revision)).all())
        assert kept == {recent: None, date(2010, 1, 1): 3}
