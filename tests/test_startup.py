"""What a process loads as it starts (issue 20): gunicorn's master none of the app, a worker
none of what it may never use, and the command line only what the command asked for.

Each check runs in a fresh interpreter: this one has loaded everything by now.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import requests

from tests.live_server import gunicorn_server

ROOT = Path(__file__).resolve().parents[1]

# What a worker loads where it is first used, not as it starts (and what each costs it):
# the commands, the demo town and backups, Alembic (11 MiB), PyJWT and cryptography's
# OpenSSL (11 MiB), redis-py (5), requests (5), holidays (4), qrcode (3), limits (2),
# openpyxl and fpdf2 (issue 20's earlier part).
LOADED_WHEN_USED = (
    "server.cli",
    "server.commands",
    "server.demo",
    "server.backups",
    "flask_migrate",
    "alembic",
    "mako",
    "jwt",
    "cryptography",
    "redis",
    "requests",
    "holidays",
    "qrcode",
    "limits",
    "openpyxl",
    "fpdf",
)


def loaded_after(code: str, tmp_path: Path) -> set[str]:
    """The top-level names of the modules `code` leaves loaded in a fresh interpreter (and
    `server.*` by full name)."""
    env = os.environ | {
        "INSTANCE_PATH": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path}/startup.sqlite3",
        "ENV": "development",
    }
    probe = (
        f"{code}\nimport json, sys\n"
        "print(json.dumps(sorted({n if n.startswith('server.') else n.split('.')[0] "
        "for n in sys.modules})))"
    )
    ran = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(json.loads(ran.stdout.splitlines()[-1]))


def test_gunicorn_s_master_loads_none_of_the_app(tmp_path):
    """The master reads its settings and makes its logger; only the workers build the app."""
    loaded = loaded_after(
        "import server.gunicorn_conf\nfrom server.trust.accesslog import PrivateAccessLogger",
        tmp_path,
    )
    assert sorted(loaded & {"flask", "sqlalchemy", "server.app", "server.models"}) == []


def test_a_worker_freezes_what_it_built_at_start_out_of_the_collector_s_sight(tmp_path):
    """A gunicorn worker with our settings has, once serving, put the app it built out of
    the garbage collector's reach (server/gunicorn_conf.py's post_worker_init): a full
    collection walked all of it, a pause of up to 200 ms on the center's queue page."""
    with gunicorn_server(
        f"sqlite:///{tmp_path}/startup.sqlite3", tmp_path, app="tests.gc_probe:create_app()"
    ) as base:
        answer = requests.get(f"{base}/gc-probe", timeout=10).json()
    # Most of what the worker holds is frozen: the app it built (122,000 objects when
    # measured) against what it has made since (15,000).
    assert answer["frozen"] > 50_000
    assert answer["frozen"] > 3 * answer["tracked"]


def test_a_worker_loads_at_start_nothing_it_loads_when_used(tmp_path):
    loaded = loaded_after("from server import create_app\ncreate_app()", tmp_path)
    assert {"server.app", "flask", "sqlalchemy"} <= loaded
    assert sorted(loaded & set(LOADED_WHEN_USED)) == []


def test_what_flask_migrate_finds_in_the_app_is_what_it_would_put_there(app):
    """server/db/extension.py's Migrations stands in for Flask-Migrate's own entry (so that
    a worker never loads Alembic): it must hold what Migrate.init_app would."""
    from flask import Flask
    from flask_migrate import Migrate

    from server.app import MIGRATIONS_DIR
    from server.db import db

    other = Flask(__name__)
    Migrate(other, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    theirs, ours = other.extensions["migrate"], app.extensions["migrate"]
    for name in vars(theirs):
        assert hasattr(ours, name), name
    assert (ours.db, ours.directory, ours.configure_args, ours.metadata) == (
        theirs.db,
        theirs.directory,
        theirs.configure_args,
        theirs.metadata,
    )
    assert ours.migrate.directory == theirs.migrate.directory
    assert ours.migrate.alembic_ctx_kwargs == theirs.migrate.alembic_ctx_kwargs


def test_the_app_s_commands_load_when_first_asked_for(app):
    """`app.cli` loads server/commands.py with the first command asked for, and then has them
    all, whoever asks (the test runner, Flask's `flask` command, `grid-report`)."""
    result = app.test_cli_runner().invoke(args=["--help"])
    assert result.exit_code == 0, result.output
    for command in ("db", "export-qr", "backup", "restore", "audit", "sweep"):
        assert f"  {command} " in result.output


def test_a_fresh_worker_counts_in_memory_when_redis_is_down(tmp_path):
    """redis-py is loaded by the limits library with the first redis:// store, and its
    errors are caught from then on (server.trust.ratelimit.store_errors)."""
    code = (
        "from server import create_app\n"
        "from server.trust import ratelimit\n"
        "app = create_app({'RATELIMIT_STORAGE_URI': 'redis://127.0.0.1:1/0'})\n"
        "with app.test_request_context():\n"
        "    import sys\n"
        "    assert 'redis' not in sys.modules\n"
        "    ratelimit.check('QR_SUBMIT_LIMIT_PER_ADDRESS', 'someone')\n"
        "    assert ratelimit.degraded() and ratelimit.check_store() == 'degraded'\n"
    )
    assert "redis" in loaded_after(code, tmp_path)


def loaded_by_export_qr(tmp_path: Path, *arguments: str) -> set[str]:
    """What `grid-report [ARGUMENTS] export-qr DIR` leaves loaded, on a migrated database."""
    env = os.environ | {
        "INSTANCE_PATH": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path}/startup.sqlite3",
        "ENV": "development",
    }
    script = Path(sys.executable).with_name("grid-report")
    subprocess.run(
        [script, "db", "upgrade", "--no-backup"], env=env, check=True, capture_output=True
    )
    argv = ["grid-report", *arguments, "export-qr", str(tmp_path / "qr")]
    code = (
        f"import sys\nsys.argv = {argv!r}\n"
        "from server.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
    )
    loaded = loaded_after(code, tmp_path)
    assert (tmp_path / "qr" / "all-villages-posters.html").is_file()
    return loaded


# Other commands' code: no export-qr loads it.
OTHER_COMMANDS = {"alembic", "flask_migrate", "server.demo", "server.backups"}
OTHER_COMMANDS |= {"server.follow_through.sweep", "server.figures.ledgers"}
SURFACES = {"admin", "miniprogram_api", "villager", "workbench", "flask_smorest"}


def test_export_qr_runs_without_flask_or_the_app(tmp_path):
    """`grid-report export-qr` needs the configuration, the villages and the QR codes: it
    runs without Flask, the models or any surface (server/cli.py's STANDALONE), whose
    imports were 0.4 s of its 1.2 s."""
    loaded = loaded_by_export_qr(tmp_path)
    assert {"server.cli", "server.organisation.posters", "jinja2"} <= loaded
    unwanted = {"flask", "werkzeug", "flask_sqlalchemy", "marshmallow", "server.app"}
    unwanted |= {"server.models", "server.db", "server.commands", "server.organisation.qr"}
    assert sorted(loaded & (unwanted | SURFACES | OTHER_COMMANDS)) == []


def test_export_qr_after_an_option_runs_inside_an_app_without_surfaces(tmp_path):
    """Named after one of Flask's options, export-qr runs through Flask's command line,
    whose app for it has no surface (server/cli.py's CORE_COMMANDS)."""
    loaded = loaded_by_export_qr(tmp_path, "--app", "server")
    assert {"flask", "server.app", "server.commands", "server.organisation.posters"} <= loaded
    assert sorted(loaded & (SURFACES | OTHER_COMMANDS)) == []


def test_the_hash_an_unknown_name_is_checked_against_is_made_as_a_user_s():
    """server/auth.py writes it out (so as not to spend 0.3 s making it at every start):
    made with weaker or stronger parameters than a user's, it would tell a wrong name from a
    wrong password by the time the answer takes."""
    from server import auth
    from server.trust import passwords

    assert not passwords.needs_rehash(auth._DUMMY_HASH)
    assert passwords.verify_password(auth._DUMMY_HASH, "timing-equaliser-not-a-password")
