"""The app factory: configuration, the database, the core's routes (/healthz, /metrics),
the command line, and the surfaces named by the SURFACES setting."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.cli import AppGroup
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter
from werkzeug.utils import import_string

from server import config as config_module
from server import health, metrics
from server.cases import limits
from server.db import Migrations, db
from server.db import init_app as init_database
from server.db.unit import App
from server.infra import logs

MIGRATIONS_DIR = str(Path(__file__).parent / "migrations")


class IdConverter(IntegerConverter):
    """`<int:…>` in a route: no larger than an id column holds. A longer number is no
    page (404), not a statement the database refuses (SQLite's OverflowError,
    PostgreSQL's "integer out of range" from 2**31 on)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", limits.ID)
        super().__init__(map, *args, **kwargs)


def create_app(overrides: dict | None = None) -> Flask:
    """Build the app: typed defaults, then the environment, then `overrides`."""
    app = App(__name__, instance_path=config_module.instance_path(), instance_relative_config=True)
    app.url_map.converters["int"] = IdConverter  # before any route is added
    app.config.from_mapping(config_module.load(app.instance_path, overrides))
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    db.init_app(app)
    app.extensions["migrate"] = Migrations(db, MIGRATIONS_DIR, render_as_batch=True)
    app.cli = Commands(app)

    # Before Flask's logger is first asked for: it adds its own plain-text handler when
    # the root logger has none.
    logs.configure(str(app.config["LOG_FORMAT"]))
    logs.redact_tracking(app.logger)
    init_database(app)
    health.init_app(app)
    metrics.init_app(app)

    for name in filter(None, (s.strip() for s in str(app.config["SURFACES"]).split(","))):
        import_string(name).init_app(app)
    if int(app.config["PROXY_COUNT"]) > 0:
        # Behind nginx every request comes from 127.0.0.1: take the client's address (rate
        # limits, the audit log) and scheme from the headers our own proxy sets.
        count = int(app.config["PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)
    return app


class Commands(AppGroup):
    """The app's commands (`app.cli`), registered by server/commands.py when the command line
    first asks for one (grid-report, `flask`, the test runner): a serving worker never
    does, and so never loads that module."""

    def __init__(self, app: Flask) -> None:
        super().__init__(name=app.name)  # as Flask names its own
        self._app, self._loaded = app, False

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            from server import commands  # here: see the class's note

            commands.init_app(self._app)

    def get_command(self, ctx, name):
        self._load()
        return super().get_command(ctx, name)

    def list_commands(self, ctx):
        self._load()
        return super().list_commands(ctx)
