"""The app factory, configuration, /healthz and SQLite's settings."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text

from server import create_app
from server.config import ConfigError
from server.db import db


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["status"] == "ok"
    assert response.json["database"] == "ok"


def test_healthz_503_when_the_database_is_down(tmp_path):
    # Nothing listens on port 1 of this machine: the connection is refused at once.
    app = create_app(
        {
            "DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/none",
            "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 2}},
        }
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"


IDENTITY_KEY = "x9Qy8vJtE2l4fA0hQm1b9YwZcR5nU7sK3pLdV6gHjTo="  # a Fernet key, for tests


def test_production_refuses_to_start_without_the_identity_key(monkeypatch, tmp_path):
    monkeypatch.setenv("ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://grid.example.gov.cn")
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("IDENTITY_KEYS", raising=False)
    with pytest.raises(ConfigError, match="IDENTITY_KEYS"):
        create_app()


@pytest.mark.parametrize("secret", [None, "dev-insecure-secret-key", "", "short-but-set"])
def test_production_refuses_a_missing_default_or_weak_secret(monkeypatch, tmp_path, secret):
    monkeypatch.setenv("ENV", "production")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://grid.example.gov.cn")
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    if secret is None:
        monkeypatch.delenv("SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("SECRET_KEY", secret)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


def test_production_refuses_to_start_without_the_public_address(monkeypatch, tmp_path):
    monkeypatch.setenv("ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    monkeypatch.setenv("IDENTITY_KEYS", IDENTITY_KEY)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
        create_app()
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://grid.example.gov.cn")
    assert create_app().config["PUBLIC_BASE_URL"] == "https://grid.example.gov.cn"


def test_in_development_links_follow_where_the_app_is_served(monkeypatch, tmp_path):
    from server.organisation import qr

    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    monkeypatch.setenv("PORT", "8000")
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3"})
    with app.app_context():
        assert qr.public_base_url() == "http://127.0.0.1:8000"  # grid-report export-qr
    # A phone on the same network asked at the laptop's address: the codes say that.
    with app.test_request_context("/admin/villages", base_url="http://192.168.1.20:8000"):
        assert qr.public_base_url() == "http://192.168.1.20:8000"


def test_configuration_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    monkeypatch.setenv("IDENTITY_KEYS", IDENTITY_KEY)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://grid.example.gov.cn")
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("TIMEZONE", "Asia/Urumqi")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/grid-report.sqlite3"
    assert str(app.config["TZ"]) == "Asia/Urumqi"
    # Overrides win over the environment.
    assert create_app({"TIMEZONE": "Asia/Shanghai"}).config["TIMEZONE"] == "Asia/Shanghai"


def test_sqlite_is_set_up_for_a_server(tmp_path):
    app = create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3", "SQLITE_BUSY_TIMEOUT_MS": 1234}
    )
    with app.app_context():
        connection = db.session.connection()
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1234
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        db.session.rollback()


def test_postgresql_connections_run_without_jit(app):
    """PostgreSQL's JIT compiled a grid worker's list that found nothing for 17 ms at a
    million cases (0.03 ms without): the app's connections turn it off."""
    with app.app_context():
        connection = db.session.connection()
        if connection.dialect.name != "postgresql":
            pytest.skip("a PostgreSQL setting")
        assert connection.exec_driver_sql("SHOW jit").scalar() == "off"
        db.session.rollback()


def test_a_sqlite_transaction_holds_the_write_lock_from_its_first_write(tmp_path):
    """A read holds no lock (writers go on meanwhile); from the first write to the commit
    the transaction holds SQLite's write lock, so no writer comes in between. (Its read
    then write is never refused: tests/test_write_queue.py.)"""
    path = tmp_path / "lock.sqlite3"
    app = create_app({"DATABASE_URL": f"sqlite:///{path}"})
    with app.app_context():
        db.session.execute(text("CREATE TABLE note (body TEXT)"))
        db.session.commit()
        db.session.execute(text("SELECT 1"))  # only a read: no lock
        other = sqlite3.connect(path, timeout=0.1, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        db.session.execute(text("INSERT INTO note VALUES ('x')"))
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        db.session.rollback()
        other.execute("BEGIN IMMEDIATE")  # free again once our transaction ends
        other.execute("ROLLBACK")
        other.close()


def test_server_imports_no_surface():
    """The arrows point one way: the core never imports the admin or the API."""
    import pathlib
    import re

    core = pathlib.Path(__file__).parents[1] / "server"
    for path in core.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert not re.search(
            r"^\s*(from|import)\s+(admin|miniprogram_api|villager|workbench)\b", source, re.M
        ), path


def test_only_the_workflow_writes_a_case_status():
    import pathlib
    import re

    root = pathlib.Path(__file__).parents[1]
    writers = [
        path.relative_to(root).as_posix()
        for folder in ("server", "admin", "miniprogram_api")
        for path in (root / folder).rglob("*.py")
        # A case's status, however the variable is named; other tables' own status
        # columns (a notification's delivery state) are not meant.
        if re.search(r"(?<!note)\.status\s*=[^=]", path.read_text(encoding="utf-8"))
    ]
    assert writers == ["server/cases/workflow/engine.py"]


def test_no_surface_commits():
    """Views never commit: the request's unit of work does, once (server/db/unit.py)."""
    import pathlib
    import re

    root = pathlib.Path(__file__).parents[1]
    committing = [
        path.relative_to(root).as_posix()
        for folder in ("admin", "miniprogram_api", "villager", "workbench")
        for path in (root / folder).rglob("*.py")
        if re.search(r"\.(commit|rollback)\(", path.read_text(encoding="utf-8"))
    ]
    assert committing == []


def test_a_request_commits_once_or_leaves_nothing(fresh_app):
    """A view that writes and returns is committed; one that writes and is refused leaves
    nothing, unless its refusal is itself on record (keeps_work)."""
    from server.infra.errors import DomainError
    from server.models import Town

    class Counted(DomainError):
        keeps_work = True

    def write(name, error=None):
        db.session.add(Town(name=name))
        db.session.flush()
        if error:
            raise error
        return "ok"

    fresh_app.add_url_rule("/t/ok", "t_ok", lambda: write("写了"))
    fresh_app.add_url_rule("/t/refused", "t_refused", lambda: write("拒了", DomainError()))
    fresh_app.add_url_rule("/t/counted", "t_counted", lambda: write("记了", Counted()))
    fresh_app.add_url_rule("/t/broken", "t_broken", lambda: write("坏了", RuntimeError()))
    fresh_app.config["PROPAGATE_EXCEPTIONS"] = False
    client = fresh_app.test_client()
    assert client.get("/t/ok").status_code == 200
    assert client.get("/t/refused").status_code == 400
    assert client.get("/t/counted").status_code == 400
    assert client.get("/t/broken").status_code == 500
    with fresh_app.app_context():
        names = set(db.session.scalars(db.select(Town.name)))
    assert names == {"写了", "记了"}
