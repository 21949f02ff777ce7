"""An upgrade from the first release: a database made by its schema (revision
747351c530f4, release 0.1.0 in CHANGELOG.md), holding what that release wrote, is
migrated to head, and the figures of its old events are what they were.

The first release had no figures code (server/figures came with a later schema), so
"what they were" is worked out by hand below from the rows themselves, by the counting
rules of server/figures/statistics.py; the rows are written with SQL in the shape the
release's own code gave them (git show dc5ffd6:server/workflow.py): each event's fields
in its `data`, no figures columns, no clock on ended cases.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask_migrate import upgrade

from server import create_app
from server.backups import revisions
from server.db import db
from server.figures import statistics
from server.figures.periods import month
from server.infra import clock
from server.models import Case
from tests.conftest import fresh_database

FIRST_RELEASE = "747351c530f4"
REPORTED = datetime(2026, 10, 12, 1, 0, tzinfo=UTC)  # 09:00 in the town, a Monday


def at(hours: float) -> datetime:
    return REPORTED + timedelta(hours=hours)


# Each case: (code, category, status, [(action, hours after its report, to_status, data,
# note)]). Six lives of October 2026, in the first release's words.
LIVES = [
    (
        "A00000000001",  # a dispute mediated, visited, closed as resolved
        "D02",
        "closed",
        [
            ("accept", 2, "accepted", {}, None),
            ("dispatch", 3, "dispatched", {"lead_department": 1}, None),
            ("sign_for", 4, "in_progress", {}, None),
            ("resolve", 30, "resolved", {"result_code": "mediated"}, "双方达成协议"),
            ("verify", 31, "follow_up", {}, None),
            ("record_visit", 100, "follow_up", {"satisfaction": "satisfied"}, "协议已履行"),
            ("close", 101, "closed", {"closing_reason": "resolved"}, None),
        ],
    ),
    (
        "B00000000002",  # a dispute that mediation did not settle: to court
        "D02",
        "closed",
        [
            ("accept", 4, "accepted", {}, None),
            ("dispatch", 5, "dispatched", {"lead_department": 1}, None),
            ("sign_for", 6, "in_progress", {}, None),
            ("resolve", 50, "resolved", {"result_code": "mediation_failed"}, "调解不成"),
            ("verify", 51, "follow_up", {}, None),
            ("close", 52, "closed", {"closing_reason": "referred_litigation"}, None),
        ],
    ),
    (
        "C00000000003",  # a hazard removed, awaiting its follow-up visit
        "H01",
        "follow_up",
        [
            ("accept", 6, "accepted", {}, None),
            ("dispatch", 7, "dispatched", {"lead_department": 1}, None),
            ("sign_for", 8, "in_progress", {}, None),
            ("resolve", 20, "resolved", {"result_code": "hazard_removed"}, "已清理"),
            ("verify", 21, "follow_up", {}, None),
        ],
    ),
    ("D00000000004", "D02", "rejected", [("reject", 1, "rejected", {}, "不属于受理范围")]),
    ("E00000000005", "D02", "submitted", []),
    (
        "F00000000006",  # mediated, back again at the visit, mediated again
        "D02",
        "resolved",
        [
            ("accept", 8, "accepted", {}, None),
            ("dispatch", 9, "dispatched", {"lead_department": 1}, None),
            ("sign_for", 10, "in_progress", {}, None),
            ("resolve", 40, "resolved", {"result_code": "mediated"}, "调解成功"),
            ("verify", 41, "follow_up", {}, None),
            ("reopen", 60, "accepted", {}, "又吵起来了"),
            ("dispatch", 61, "dispatched", {"lead_department": 1}, None),
            ("sign_for", 62, "in_progress", {}, None),
            ("resolve", 90, "resolved", {"result_code": "mediated"}, "再次调解成功"),
        ],
    ),
]

# By hand, for October 2026 (statistics.py's rules): six reports, five disputes; accepted
# A B C F; resolved A B C F (F twice, once); closed A B; disputes handled A B F; mediated
# (disputes resolved) A B F, of which A F succeeded; the hazard found and removed; of the
# two disputes closed, A as resolved; F reopened once; one visit, satisfied. Hours from
# report to acceptance 2, 4, 6, 8: median 5, 90th percentile 8.
EXPECTED = {
    "received": 6,
    "received_by_group": {"矛盾纠纷": 5, "安全隐患": 1},
    "accepted": 4,
    "resolved": 4,
    "closed": 2,
    "disputes_handled": 3,
    "mediations": 3,
    "mediations_succeeded": 2,
    "hazards_found": 1,
    "hazards_removed": 1,
    "disputes_closed": 2,
    "disputes_closed_resolved": 1,
    "reopened": 1,
    "disputes_reopened": 1,
    "follow_ups": 1,
    "satisfied": 1,
    "answered": 1,
    "hours_to_accept": (5.0, 8.0),
}


def write_first_release_rows(connection) -> None:
    """The rows of a town as the first release's code left them."""
    sqlite = connection.dialect.name == "sqlite"

    def insert(table: str, values: dict) -> None:
        columns = [
            sa.column(name, sa.DateTime(timezone=True))
            if isinstance(value, datetime)
            else sa.column(name, sa.JSON)
            if isinstance(value, dict)
            else sa.column(name)
            for name, value in values.items()
        ]
        # As the release's UTCDateTime stored a time: naive UTC in SQLite.
        row = {
            name: value.replace(tzinfo=None) if sqlite and isinstance(value, datetime) else value
            for name, value in values.items()
        }
        connection.execute(sa.table(table, *columns).insert().values(**row))

    created = datetime(2026, 9, 1, tzinfo=UTC)
    insert("town", {"id": 1, "name": "大钟庄镇"})
    insert("village", {"id": 1, "town_id": 1, "code": "V01", "name": "东村"})
    department = {"town_id": 1, "kind": "justice_office", "town_wide": True, "active": True}
    insert("department", {"id": 1, "name": "司法所", **department})
    category = {
        "default_severity": "general",
        "default_risk_level": "yellow",
        "urgent": False,
        "confidential": False,
        "emergency": False,
        "active": True,
    }
    insert(
        "category",
        {
            "id": 1,
            "code": "D02",
            "name": "邻里纠纷",
            "group": "dispute",
            "sort_order": 1,
            **category,
        },
    )
    insert(
        "category",
        {
            "id": 2,
            "code": "H01",
            "name": "火灾隐患",
            "group": "safety_hazard",
            "sort_order": 2,
            **category,
        },
    )
    account = {
        "password_hash": "x",
        "active": True,
        "created_at": created,
        "password_changed_at": created,
    }
    insert(
        "user_account",
        {"id": 1, "username": "center", "display_name": "中心", "role": "center", **account},
    )
    insert(
        "user_account",
        {
            "id": 2,
            "username": "justice",
            "display_name": "司法所",
            "role": "handler",
            "department_id": 1,
            **account,
        },
    )
    event_id = 0
    for number, (code, category_code, status, life) in enumerate(LIVES, start=1):
        last = at(life[-1][1]) if life else REPORTED
        case = {
            "id": number,
            "code": code,
            "source": "grid_worker",
            "village_id": 1,
            "category_id": 1 if category_code == "D02" else 2,
            "severity": "general",
            "risk_level": "yellow",
            "people_involved": 2,
            "group_dispute": False,
            "criminal_risk": False,
            "urgent": False,
            "description": f"第{number}件：两家争宅基地。",
            "reporter_anonymous": True,
            "status": status,
            "supervised": False,
            "escalated": False,
            "created_at": REPORTED,
            "updated_at": last,
            "version": len(life) + 1,
        }
        if status in ("resolved", "follow_up", "closed"):
            case["lead_department_id"] = 1
        if status == "closed":
            case |= {"closed_at": last, "closing_reason": life[-1][3]["closing_reason"]}
        elif status == "rejected":
            case["rejection_reason"] = life[-1][4]
        else:  # an open case runs against a step's clock; an ended one has none
            case |= {"step": "verify", "due_at": last + timedelta(days=3)}
        insert("case_file", case)
        event_id += 1
        insert(
            "case_event",
            {
                "id": event_id,
                "case_id": number,
                "action": "submit",
                "to_status": "submitted",
                "at": REPORTED,
                "actor_role": "grid_worker",
                "internal": False,
                "data": {"source": "grid_worker", "category": category_code},
            },
        )
        from_status = "submitted"
        for action, hours, to_status, data, note in life:
            event_id += 1
            handler = action in ("sign_for", "resolve")
            event = {
                "id": event_id,
                "case_id": number,
                "action": action,
                "from_status": from_status,
                "to_status": to_status,
                "at": at(hours),
                "actor_id": 2 if handler else 1,
                "actor_role": "handler" if handler else "center",
                "note": note,
                "data": data,
                "internal": action == "record_visit",
            }
            insert("case_event", event)
            from_status = to_status
    if not sqlite:  # the ids were given: the sequences follow, as the release's did
        for table in (
            "town",
            "village",
            "department",
            "category",
            "user_account",
            "case_file",
            "case_event",
        ):
            connection.execute(
                sa.text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :n)"),
                {"t": table, "n": 100},
            )


@contextmanager
def _closed_after(app):
    """The app's connections closed however the test ends: a failed assertion left them
    to the garbage collector, whose warning then failed a later, unrelated test."""
    try:
        yield
    finally:
        db.session.remove()
        db.engine.dispose()


def test_a_first_release_database_upgrades_to_head_with_its_figures_intact(tmp_path):
    with fresh_database(tmp_path) as url:
        app = create_app(
            {
                "DATABASE_URL": url,
                "ENV": "testing",
                "TESTING": True,
                "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
                "MEDIA_ROOT": str(tmp_path / "media"),
                "BACKUP_DIR": str(tmp_path / "backups"),
            }
        )
        with app.app_context(), _closed_after(app):
            assert revisions.first() == FIRST_RELEASE
            upgrade(revision=FIRST_RELEASE)
            with db.engine.begin() as connection:
                write_first_release_rows(connection)
            # As an operator upgrades: the console's `db upgrade`, which backs up first.
            result = app.test_cli_runner().invoke(args=["db", "upgrade"])
            assert result.exit_code == 0, result.output
            assert "升级前已备份" in result.output
            assert revisions.current(db.engine) == revisions.head()

            # One whole-suite run once counted nothing here and it was not seen again: the
            # counting starts from a session of its own, and a failure names the database
            # it read and the time it counted at.
            db.session.remove()
            figures = statistics.compute(month(2026, 10))
            counted = {name: getattr(figures, name) for name in EXPECTED}
            assert counted == EXPECTED, (str(db.session.get_bind().url), clock.now())
            assert figures.resolution_rate == 0.5
            assert figures.reopen_rate == 0.25
            # The old cases read as cases of today: their timelines and states whole.
            cases = {c.code: c for c in db.session.scalars(sa.select(Case))}
            assert {code: cases[code].status.value for code, *_ in LIVES} == {
                code: status for code, _category, status, _life in LIVES
            }
            assert [e.action for e in cases["F00000000006"].events] == ["submit"] + [
                action for action, *_ in LIVES[-1][3]
            ]
