"""Fixtures: one database migrated to head per run, and each test in a rolled-back transaction.

The suite runs on SQLite by default and on PostgreSQL when TEST_DATABASE_URL names a
server (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test): it then creates a
database of its own on that server and drops it at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import g, has_app_context, has_request_context, request
from flask.globals import app_ctx
from flask.testing import FlaskClient
from flask_migrate import upgrade
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from server import create_app
from server.db import db
from server.infra import clock
from server.organisation import catalogue, reference

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")


@contextmanager
def fresh_database(tmp_dir: Path) -> Iterator[str]:
    """A new empty database (SQLite file, or a PostgreSQL database dropped afterwards)."""
    if not TEST_DATABASE_URL.startswith("postgresql"):
        yield f"sqlite:///{tmp_dir / f'test-{uuid.uuid4().hex[:8]}.sqlite3'}"
        return
    server_url = make_url(TEST_DATABASE_URL)
    name = f"grid_report_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(autouse=True)
def _clock_left_running():
    """A test that leaves the clock frozen fails, and the clock runs again for the next.
    The clock is one for the process: two threads that each froze it put back each
    other's time, and every later test of the run read its day as 2 June."""
    yield
    frozen = clock._frozen
    if frozen is not None:
        clock._frozen = None
        pytest.fail(f"the test left the clock frozen at {frozen.isoformat()}")


def make_app(database_url: str, **overrides):
    """An app on `database_url`, migrated to head, with the default categories installed."""
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "ENV": "testing",
            "TESTING": True,
            "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
            **overrides,
        }
    )
    with app.app_context():
        upgrade()
        catalogue.install_categories()
        db.session.commit()
    return app


def _scope():
    """Each request gets a session of its own (as in production), the test another."""
    if has_request_context():
        return ("request", id(request._get_current_object()))
    return ("app", id(app_ctx._get_current_object()))


class ExpiringClient(FlaskClient):
    """A client for tests that hold an app context (which Flask then reuses for requests).

    After each request it forgets what the test's session had loaded (the request may have
    changed it, in its own session on the same connection), and what the request put on
    `g` (in production every request has a `g` of its own).
    """

    def open(self, *args, **kwargs):
        before = set(vars(g)) if has_app_context() else set()
        response = super().open(*args, **kwargs)
        if has_app_context():
            for name in set(vars(g)) - before:
                delattr(g, name)
        db.session.expire_all()
        return response


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    """The app every ordinary test shares; its database is migrated once."""
    with fresh_database(tmp_path_factory.mktemp("db")) as url:
        app = make_app(url)
        app.test_client_class = ExpiringClient

        @app.teardown_request
        def _end_request_session(_exc):
            db.session.remove()  # the request's own session (see _scope)

        yield app
        with app.app_context():
            db.engine.dispose()


class ConnectionBoundSession(FlaskSession):
    """Flask-SQLAlchemy's session picks its engine by bind key and would ignore the
    test's connection; this one uses the connection it was given."""

    def get_bind(self, *args, **kwargs):
        return self.bind if self.bind is not None else super().get_bind(*args, **kwargs)


@pytest.fixture
def session(app):
    """A session whose work is rolled back after the test (commits become savepoints)."""
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        scoped = db._make_scoped_session(
            {
                "bind": connection,
                "join_transaction_mode": "create_savepoint",
                "class_": ConnectionBoundSession,
                "scopefunc": _scope,
            }
        )
        real, db.session = db.session, scoped
        try:
            yield scoped
        finally:
            scoped.remove()
            db.session = real
            outer.rollback()
            connection.close()
            # The process's copy of reference data may hold what this test rolled back.
            reference.forget()


@pytest.fixture
def client(app, session):
    """A test client whose requests see the test's (uncommitted) data."""
    return app.test_client()


@pytest.fixture
def runner(app, session):
    """A CLI runner inside the test's transaction."""
    return app.test_cli_runner()


@pytest.fixture
def fresh_app(tmp_path):
    """An app on a database of its own, for tests that must really commit (concurrency)."""
    with fresh_database(tmp_path) as url:
        app = make_app(url)
        yield app
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def world(session):
    """A small town: two villages, their departments and one account of each role."""
    from tests.factories import build_world

    return build_world()


@pytest.fixture
def login(client):
    """`login(user)` -> headers with a bearer token for `user`."""

    from tests.factories import PASSWORD

    def sign_in(user, password=PASSWORD) -> dict:
        response = client.post(
            "/api/v1/auth/login", json={"username": user.username, "password": password}
        )
        assert response.status_code == 200, response.json
        return {"Authorization": f"Bearer {response.json['token']}"}

    return sign_in


@pytest.fixture
def signin(client):
    """`signin(user)` signs the client in to the admin as `user`; returns a CSRF token."""
    from tests.admin.conftest import csrf_from
    from tests.factories import PASSWORD

    def sign_in(user, password=PASSWORD):
        client.delete_cookie("gr_admin", path="/admin")  # whoever was signed in before
        token = csrf_from(client.get("/admin/login").get_data(as_text=True))
        response = client.post(
            "/admin/login",
            data={"csrf_token": token, "username": user.username, "password": password},
        )
        assert response.status_code == 302, response.get_data(as_text=True)[:400]
        # Each role's landing page (the three duties land on their own work).
        return csrf_from(client.get("/admin/", follow_redirects=True).get_data(as_text=True))

    return sign_in


@pytest.fixture
def demo(session):
    """The demo town of `make run` (45 villages, their people, a living case load), seeded
    in the test's transaction; the accounts by username."""
    from sqlalchemy import select

    from server import demo as demo_town
    from server.models import User

    demo_town.seed()
    return {u.username: u for u in session.scalars(select(User))}


@pytest.fixture
def library_stops_at_2026(monkeypatch):
    """The library as its newest release is: it knows no year after 2026."""
    import chinese_calendar

    known = chinese_calendar.is_workday

    def is_workday(day):
        if day.year > 2026:
            raise NotImplementedError(f"no data for {day.year}")
        return known(day)

    monkeypatch.setattr(chinese_calendar, "is_workday", is_workday)


@pytest.fixture
def towns(world):
    """`world`'s town, a second town with its own people, and the district's accounts
    (its center and leader, and a district department, 区直部门, with a handler)."""
    from tests.factories import build_towns

    return build_towns()


@pytest.fixture
def redis_url():
    """`redis_url(n)`: the URL of database n of the machine's Redis (127.0.0.1:6379),
    emptied first. Without a Redis the test is skipped, except on CI, which has one and
    fails instead: a test of what Redis shares must not pass by not running."""
    import redis

    def empty(number: int) -> str:
        url = f"redis://127.0.0.1:6379/{number}"
        try:
            redis.Redis.from_url(url, socket_connect_timeout=1).flushdb()
        except redis.RedisError:
            if os.environ.get("CI"):
                raise
            pytest.skip("no Redis on 127.0.0.1:6379")
        return url

    return empty
