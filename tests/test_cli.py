"""The `grid-report` commands and the demo town."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from server.db import db
from server.models import Case, CaseStatus, Department, DepartmentKind, Role, Town, User, Village
from server.trust import passwords
from server.trust.audit import AuditEntry
from tests.factories import PASSWORD

ROOT = Path(__file__).resolve().parents[1]
GRID_REPORT = Path(sys.executable).with_name("grid-report")


def test_grid_report_help_lists_our_commands():
    script = Path(sys.executable).with_name("grid-report")
    result = subprocess.run(
        [script, "--help"], capture_output=True, text=True, check=True, timeout=60
    )
    for command in ("db", "seed-demo", "seed-categories", "create-user", "case"):
        assert f"  {command} " in result.stdout


def test_seed_demo_builds_the_town_of_the_report(runner, app):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    # The town of the report, and a small second town of the district (test_demo_town.py).
    towns = dict(db.session.execute(select(Town.name, Town.id)).all())
    assert set(towns) == {"大钟庄镇", "小王庄镇"}
    town = towns["大钟庄镇"]
    villages = select(func.count(Village.id))
    assert db.session.scalar(villages.where(Village.town_id == town)) == 45
    assert db.session.scalar(villages.where(Village.town_id == towns["小王庄镇"])) == 5
    kinds = db.session.execute(
        select(Department.kind, func.count())
        .where(Department.town_id == town)
        .group_by(Department.kind)
    ).all()
    assert dict(kinds) == {
        DepartmentKind.VILLAGE_COMMITTEE: 45,
        DepartmentKind.POLICE_STATION: 1,
        DepartmentKind.JUSTICE_OFFICE: 1,
        DepartmentKind.WORK_SAFETY_OFFICE: 1,
        DepartmentKind.ENFORCEMENT_TEAM: 1,
        DepartmentKind.LEGAL_ADVISOR: 10,
    }
    # Nine advisors cover five villages each; one serves the town government.
    advisors = db.session.scalars(
        select(Department).where(Department.kind == DepartmentKind.LEGAL_ADVISOR)
    ).all()
    assert sorted(len(a.villages) for a in advisors) == [0] + [5] * 9

    users = {u.username: u for u in db.session.scalars(select(User))}
    for name, role in [
        ("admin", Role.ADMIN),
        ("center", Role.CENTER),
        ("leader", Role.LEADER),
        ("police", Role.HANDLER),
        ("justice", Role.HANDLER),
        ("safety", Role.HANDLER),
    ]:
        assert users[name].role == role
    assert users["police"].department.kind == DepartmentKind.POLICE_STATION
    assert users["grid01"].grids[0].village.code == "V01"
    assert users["grid45"].grids[0].village.code == "V45"
    assert passwords.verify_password(users["grid07"].password_hash, app.config["DEMO_PASSWORD"])

    statuses = set(db.session.scalars(select(Case.status).distinct()))
    assert statuses == set(CaseStatus)
    assert db.session.scalar(select(func.count(Case.id))) >= 30


def test_seed_demo_if_empty_leaves_a_used_database_alone(runner, world):
    result = runner.invoke(args=["seed-demo", "--if-empty"])
    assert result.exit_code == 0
    assert "already" in result.output
    assert db.session.scalar(select(func.count(Village.id))) == 2


def test_case_command_prints_the_timeline(runner, world):
    from tests.helpers import case_in

    case = case_in("closed", world)
    result = runner.invoke(args=["case", case.code.lower()])
    assert result.exit_code == 0, result.output
    for text in ("已结案", "邻里纠纷", "受理", "派遣", "签收", "办结", "核查通过", "结案"):
        assert text in result.output
    missing = runner.invoke(args=["case", "NOSUCHCASE"])
    assert missing.exit_code != 0
    assert "找不到" in missing.output


def test_create_user(runner, world):
    result = runner.invoke(
        args=[
            "create-user",
            "zhang",
            "--role",
            "handler",
            "--department",
            world.police.name,
            "--password",
            PASSWORD,
        ]
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.username == "zhang"))
    assert user.department is world.police
    assert user.password_hash.startswith("$argon2id$")
    assert passwords.verify_password(user.password_hash, PASSWORD)
    # Written in the audit log, as an account made on the admin's pages is.
    entry = db.session.scalar(
        select(AuditEntry).where(
            AuditEntry.action == "user.create", AuditEntry.object_id == str(user.id)
        )
    )
    assert entry.actor_id is None
    assert entry.detail == {"username": "zhang", "role": "handler", "via": "cli"}

    grid_worker = runner.invoke(
        args=[
            "create-user",
            "li",
            "--role",
            "grid_worker",
            "--grid",
            world.g2.code,
            "--password",
            PASSWORD,
        ]
    )
    assert grid_worker.exit_code == 0, grid_worker.output
    assert db.session.scalar(select(User).where(User.username == "li")).village_ids == {world.v2.id}


def test_create_user_refuses_bad_input(runner, world):
    cases = [
        (["weak", "--role", "center", "--password", "password"], "密码"),
        (["t_center", "--role", "center", "--password", PASSWORD], "已存在"),
        (["h", "--role", "handler", "--password", PASSWORD], "部门"),
        (
            ["h", "--role", "handler", "--department", "无此部门", "--password", PASSWORD],
            "未知部门",
        ),
        (
            ["c", "--role", "center", "--department", world.police.name, "--password", PASSWORD],
            "处置人员",
        ),
    ]
    before = db.session.scalar(select(func.count(User.id)))
    for args, message in cases:
        result = runner.invoke(args=["create-user", *args])
        assert result.exit_code != 0
        assert message in result.output
    assert db.session.scalar(select(func.count(User.id))) == before


def test_password_policy():
    import pytest

    from server.infra.errors import ValidationFailed

    for weak in ("short1A", "alllowercase1", "ALLUPPER123", "NoDigitsHere"):
        with pytest.raises(ValidationFailed):
            passwords.check_policy(weak)
    passwords.check_policy("Village@Mediator7")  # (Demo@2026 is now refused as common)
    passwords.check_policy("longer-pass-99")


def test_an_export_leaves_sqlites_write_lock_free(fresh_app, tmp_path, monkeypatch):
    """A ledger export can take a minute: phones' reports must not wait for it."""
    import os
    import sqlite3

    import pytest

    from server.figures import ledgers

    if fresh_app.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("SQLite's write lock")
    path = fresh_app.config["DATABASE_URL"].removeprefix("sqlite:///")
    writes = []

    def write_while_exporting(*_args, **_kwargs):
        db.session.scalar(select(func.count(Case.id)))  # the export reads
        other = sqlite3.connect(path, timeout=0.2, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # "database is locked" if the export held it
        other.execute("ROLLBACK")
        other.close()
        writes.append(os.getpid())
        return 0

    monkeypatch.setattr(ledgers, "write", write_while_exporting)
    with fresh_app.app_context():
        result = fresh_app.test_cli_runner().invoke(
            args=[
                "export-ledger",
                "cases",
                "--from",
                "2026-06-01",
                "--to",
                "2026-06-30",
                str(tmp_path / "x.xlsx"),
            ]
        )
    assert result.exit_code == 0, result.output
    assert writes


def test_the_schedule_makes_the_demo_town_live(runner, demo, session):
    from server.models import Notification

    def supervised():
        return session.scalar(select(func.count(Case.id)).where(Case.supervised.is_(True)))

    def pending():
        return session.scalar(
            select(func.count(Notification.id)).where(Notification.status == "pending")
        )

    before = supervised()
    assert pending() > 0
    result = runner.invoke(args=["schedule", "--every", "0", "--times", "1"])
    assert result.exit_code == 0, result.output
    assert "sweep: " in result.output
    assert "notify: " in result.output
    assert supervised() > before  # the overdue cases are chased
    assert pending() == 0  # and the messages delivered


def test_make_run_runs_the_schedule_beside_the_server():
    makefile = (Path(__file__).parents[1] / "Makefile").read_text()
    run = makefile[makefile.index("\nrun:") :].split("\n\n")[0]
    assert "grid-report schedule" in run
    assert "trap" in run  # stopped with the server


def test_export_qr_writes_each_village_s_code_and_posters_from_one_drawing(
    runner, world, tmp_path, monkeypatch
):
    """Every active village's PNG (which decodes to its page) and SVG, its poster and the
    sheet of all, each code made once; a closed village is left out."""
    import io

    import zxingcpp
    from PIL import Image

    from server.organisation import qr, qr_images

    world.v2.active = False
    db.session.flush()
    made = []
    code_for = qr_images.code_for
    monkeypatch.setattr(qr_images, "code_for", lambda url: made.append(url) or code_for(url))

    result = runner.invoke(args=["export-qr", str(tmp_path)])
    assert result.exit_code == 0, result.output

    url = qr.village_url(world.v1)
    assert made == [url]  # once: the files, the poster and the sheet share the drawing
    stem = tmp_path / f"{world.v1.code}-{world.v1.name}"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(Path(f"{stem}.png").read_bytes())))
    assert [code.text for code in decoded] == [url]
    svg = Path(f"{stem}.svg").read_text(encoding="utf-8")
    assert svg == qr.svg(world.v1)  # what the villager page serves at /q/<token>/qr.svg
    for page in (Path(f"{stem}-poster.html"), tmp_path / "all-villages-posters.html"):
        html = page.read_text(encoding="utf-8")
        assert html.count(svg) == 1, page
        for shown in (url, world.v1.name, world.town.name):
            assert shown in html, (page, shown)
        assert "<style>" in html  # the poster prints without the server
    ends = (".png", ".svg", "-poster.html")
    files = [f"{stem.name}{end}" for end in ends] + ["all-villages-posters.html"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files)


def test_export_qr_on_its_own_writes_what_it_writes_inside_the_app(fresh_app, tmp_path):
    """`grid-report export-qr DIR` runs without the app (server/cli.py's STANDALONE) and
    reads the villages through the configured database itself: it writes the very files,
    byte for byte, that the command writes inside the app, on SQLite and on PostgreSQL;
    each code carries the configured address, a closed village is left out, each poster
    names its own town, and a poster is what Flask renders of the same template (a name
    is escaped as on the villagers' pages)."""
    import os

    from flask import render_template

    from server.organisation import qr
    from tests.factories import build_towns, build_world

    fresh_app.config["PUBLIC_BASE_URL"] = "https://tiaojie.example.cn/"  # not the fallback
    with fresh_app.app_context():
        world = build_world()
        towns = build_towns()
        world.v1.name = "东村<一组>&二组"
        world.v2.active = False
        db.session.commit()
        shown = sorted([world.v1, towns["village"]], key=lambda village: village.code)
        stems = [f"{village.code}-{village.name}" for village in shown]
        other = f"{towns['village'].code}-{towns['village'].name}"
        other_town, other_token = towns["town"].name, towns["village"].qr_token
        with fresh_app.test_request_context():
            rendered = render_template(
                "villager/poster.html",
                villages=[world.v1],
                town=world.v1.town,
                qr_svg=qr.svg,
                url_of=qr.village_url,
                inline_css=(ROOT / "villager" / "static" / "poster.css").read_text("utf-8"),
            )
        own = f"{world.v1.code}-{world.v1.name}"
        inside = fresh_app.test_cli_runner().invoke(args=["export-qr", str(tmp_path / "app")])
        assert inside.exit_code == 0, inside.output
        db.session.remove()  # no transaction left open (on SQLite it would hold the lock)

    env = os.environ | {
        "DATABASE_URL": fresh_app.config["DATABASE_URL"],
        "PUBLIC_BASE_URL": fresh_app.config["PUBLIC_BASE_URL"],
        "INSTANCE_PATH": str(tmp_path),
        "ENV": "development",
    }
    alone = subprocess.run(
        [GRID_REPORT, "export-qr", str(tmp_path / "alone")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert alone.returncode == 0, alone.stderr
    wrote = f"wrote QR codes and posters of 2 villages to {tmp_path / 'alone'}"
    assert alone.stdout.strip() == wrote

    written = sorted(path.name for path in (tmp_path / "alone").iterdir())
    ends = (".png", ".svg", "-poster.html")
    files = [f"{stem}{end}" for stem in stems for end in ends] + ["all-villages-posters.html"]
    assert written == sorted(files)
    for name in written:
        alone_bytes = (tmp_path / "alone" / name).read_bytes()
        assert alone_bytes == (tmp_path / "app" / name).read_bytes(), name
    assert (tmp_path / "alone" / f"{own}-poster.html").read_text("utf-8") == rendered
    assert "东村&lt;一组&gt;&amp;二组" in rendered
    poster = (tmp_path / "alone" / f"{other}-poster.html").read_text("utf-8")
    assert f"<title>{other_town} 扫码上报海报</title>" in poster
    assert f">https://tiaojie.example.cn/q/{other_token}<" in poster


def test_a_relative_sqlite_path_names_a_file_in_the_instance_folder(tmp_path):
    """DATABASE_URL=sqlite:///grid.sqlite3 is the instance folder's file, where
    Flask-SQLAlchemy opens it, for what opens the database without it too
    (`grid-report export-qr` on its own): not a new empty file in the current folder."""
    import os

    instance, work = tmp_path / "elsewhere", tmp_path / "work"  # not ./instance
    work.mkdir()
    env = os.environ | {
        "DATABASE_URL": "sqlite:///grid.sqlite3",
        "INSTANCE_PATH": str(instance),
        "ENV": "development",
    }
    for command in (["db", "upgrade", "--no-backup"], ["export-qr", str(tmp_path / "qr")]):
        done = subprocess.run(
            [GRID_REPORT, *command],
            env=env,
            cwd=work,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, (command, done.stderr)
    assert (instance / "grid.sqlite3").is_file()
    made = {path.parent for path in tmp_path.rglob("grid.sqlite3*")}  # its -wal, -writers
    assert made == {instance}
