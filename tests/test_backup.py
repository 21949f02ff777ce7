"""Backups: the archive and its checks, restore into an empty instance only, the
retention rule over years of nightly backups, and `db upgrade` backing up first.

Each test that backs up commits for real, in a database of its own (SQLite or, with
TEST_DATABASE_URL, PostgreSQL), with its own photo folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import uuid
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask_migrate import downgrade
from PIL import Image
from sqlalchemy import create_engine, inspect, text

from server import create_app
from server.backups import archive, retention, revisions
from server.backups import prune as prune_archives
from server.db import db
from tests.conftest import fresh_database, make_app
from tests.factories import PASSWORD, build_world

TOWN = ZoneInfo("Asia/Shanghai")


# --- The retention rule (a pure function) -------------------------------------------


def nightly(first: date, nights: int) -> list[datetime]:
    """A backup at 02:30 in the town every night, as the timer starts it."""
    return [
        datetime.combine(first + timedelta(days=n), datetime.min.time(), TOWN).replace(
            hour=2, minute=30
        )
        for n in range(nights)
    ]


def local_days(times) -> list[str]:
    return sorted(t.astimezone(TOWN).date().isoformat() for t in times)


def test_400_nights_keep_7_daily_4_weekly_12_monthly():
    times = nightly(date(2026, 1, 1), 400)  # the last is Thursday 2027-02-04
    assert times[-1].date() == date(2027, 2, 4)
    kept = retention.keep(times)
    # Worked out by hand: the last 7 days; the newest of each of the last 4 ISO weeks (the
    # weeks of 02-04 and 01-31 are in the days already, then Sundays 01-24 and 01-17);
    # the newest of each of the last 12 months (Feb and Jan 2027 in the days already).
    assert local_days(kept) == sorted(
        [f"2027-01-{d:02d}" for d in range(29, 32)]
        + [f"2027-02-{d:02d}" for d in range(1, 5)]
        + ["2027-01-24", "2027-01-17"]
        + ["2026-12-31", "2026-11-30", "2026-10-31", "2026-09-30", "2026-08-31"]
        + ["2026-07-31", "2026-06-30", "2026-05-31", "2026-04-30", "2026-03-31"]
    )
    # Night after night: the new backup is kept, one let go never comes back (pruned, it
    # could not), and there are never more than 7 + 4 + 12.
    for n in range(1, 400):
        before, after = retention.keep(times[:n]), retention.keep(times[: n + 1])
        assert after - before == {times[n]}
        assert len(after) <= 23


def test_a_week_across_new_year_is_one_week_and_two_months():
    times = nightly(date(2026, 12, 28), 7)  # Monday 12-28 .. Sunday 01-03: ISO 2026-W53
    assert local_days(retention.keep(times, daily=0, weekly=1, monthly=0)) == ["2027-01-03"]
    assert local_days(retention.keep(times, daily=0, weekly=2, monthly=0)) == ["2027-01-03"]
    assert local_days(retention.keep(times, daily=0, weekly=0, monthly=2)) == [
        "2026-12-31",
        "2027-01-03",
    ]


def test_days_and_months_are_the_towns_not_utcs():
    # 23:00 and 01:00 in Shanghai on either side of New Year, both 2026-12-31 in UTC.
    late = datetime(2026, 12, 31, 15, 0, tzinfo=UTC)
    early = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)
    assert retention.keep([late, early], daily=0, weekly=0, monthly=2) == {late, early}
    assert retention.keep([late, early], daily=0, weekly=0, monthly=2, zone=UTC) == {early}
    assert retention.keep([late, early], daily=1, weekly=0, monthly=0) == {early}


def test_prune_removes_only_our_archives_the_rule_lets_go(tmp_path):
    for moment in nightly(date(2026, 1, 1), 40):
        (tmp_path / archive.archive_name(moment)).write_bytes(b"x")
    labelled = tmp_path / archive.archive_name(datetime(2026, 1, 2, tzinfo=UTC), "pre-upgrade")
    labelled.write_bytes(b"x")
    others = [tmp_path / "notes.txt", tmp_path / ".grid-report-20260101T000000Z.tar.1.partial"]
    for path in others:
        path.write_bytes(b"x")
    removed = prune_archives(tmp_path, zone=TOWN)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert len(removed) == 40 - len(retention.keep(nightly(date(2026, 1, 1), 40)))
    assert labelled.name in left
    assert all(p.name in left for p in others)
    assert not any(p.exists() for p in removed)


# --- An instance of its own, with photos ---------------------------------------------


@contextmanager
def instance(tmp_path: Path, name: str, *, migrated: bool = True):
    """An app on a new database with a photo folder and a backup folder of its own;
    `migrated` and with the categories installed (as make_app does), or left empty."""
    folder = tmp_path / name
    folder.mkdir()
    overrides = {
        "MEDIA_ROOT": str(folder / "media"),
        "BACKUP_DIR": str(folder / "backups"),
    }
    with fresh_database(folder) as url:
        if migrated:
            app = make_app(url, **overrides)
        else:
            app = create_app(
                {
                    "DATABASE_URL": url,
                    "ENV": "testing",
                    "TESTING": True,
                    "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
                    **overrides,
                }
            )
        try:
            yield app
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def photo(seed: int) -> bytes:
    """A small JPEG, different for each seed."""
    image = Image.effect_noise((320, 240), 40 + seed).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def file_reports(app, count: int = 2) -> list[str]:
    """A grid worker files `count` reports with a photo each; their case codes."""
    with app.app_context():
        world = build_world()
        village = world.v1.id
        db.session.commit()
    client = app.test_client()
    token = client.post(
        "/api/v1/auth/login", json={"username": "t_grid1", "password": PASSWORD}
    ).json["token"]
    headers = {"Authorization": f"Bearer {token}"}
    codes = []
    for n in range(count):
        media = client.post(
            "/api/v1/media",
            headers=headers,
            data={"file": (io.BytesIO(photo(n)), "a.jpg", "image/jpeg")},
            content_type="multipart/form-data",
        )
        assert media.status_code == 201, media.json
        report = client.post(
            "/api/v1/reports",
            headers=headers | {"Idempotency-Key": str(uuid.uuid4())},
            json={
                "category": "D02",
                "village": village,
                "description": f"第{n}份：两家争地。",
                "photos": [media.json["id"]],
            },
        )
        assert report.status_code == 201, report.json
        codes.append(report.json["code"])
    return codes


def cli(app, *args: str):
    """Run a `grid-report` command against `app`, in its context as the console script
    runs it."""
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args))


def rows(app, query: str) -> list[tuple]:
    """A query's rows, through a connection of the test's own."""
    engine = create_engine(app.config["DATABASE_URL"])
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(query))]
    finally:
        engine.dispose()


def media_files(app) -> dict[str, str]:
    """Every stored photo file under MEDIA_ROOT: its key -> sha256."""
    root = Path(app.config["MEDIA_ROOT"])
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def backup(app) -> Path:
    result = cli(app, "backup")
    assert result.exit_code == 0, result.output
    (made,) = Path(app.config["BACKUP_DIR"]).glob("grid-report-*.tar")
    return made


# --- Backup and restore ---------------------------------------------------------------


def test_a_backup_restored_into_an_empty_instance_is_the_same(tmp_path):
    with instance(tmp_path, "old") as old:
        codes = file_reports(old)
        made = backup(old)
        manifest = archive.verify(made)
        assert manifest.revision == revisions.head()
        assert manifest.database == old.config["DATABASE_URL"].split(":")[0].split("+")[0]
        assert manifest.photos_referenced == 4  # and their thumbnails
        assert manifest.photos_missing == []
        assert {f["path"] for f in manifest.files} >= {
            f"media/{key[:2]}/{key}" for key in media_files(old)
        }
        raw = json.dumps(json.loads(archive.verify(made).to_json()))
        assert "t_grid1" not in raw  # nobody's names or words
        assert "两家争地" not in raw
        with instance(tmp_path, "new", migrated=False) as new:
            result = cli(new, "restore", str(made))
            assert result.exit_code == 0, result.output
            assert "已恢复" in result.output
            for query in (
                "SELECT code, status, description FROM case_file ORDER BY id",
                "SELECT id, case_id, action, to_status FROM case_event ORDER BY id",
                "SELECT storage_key, sha256 FROM photo ORDER BY id",
                "SELECT username, password_hash FROM user_account ORDER BY id",
            ):
                assert rows(new, query) == rows(old, query), query
            assert [
                code for (code,) in rows(new, "SELECT code FROM case_file ORDER BY id")
            ] == codes
            assert media_files(new) == media_files(old)
            for key, digest in rows(new, "SELECT storage_key, sha256 FROM photo"):
                assert media_files(new)[key] == digest
            # Restored, it serves: the worker signs in and sees a report's photo.
            client = new.test_client()
            token = client.post(
                "/api/v1/auth/login", json={"username": "t_grid1", "password": PASSWORD}
            ).json["token"]
            headers = {"Authorization": f"Bearer {token}"}
            case = client.get(f"/api/v1/cases/{codes[0]}", headers=headers).json
            shown = client.get(case["photos"][0]["url"], headers=headers)
            assert shown.status_code == 200
            assert sha(shown.data) in set(media_files(old).values())


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_migrated_instance_with_no_rows_counts_as_empty(tmp_path):
    with instance(tmp_path, "old") as old:
        file_reports(old, 1)
        made = backup(old)
        with instance(tmp_path, "new", migrated=False) as new:
            with new.app_context():
                from flask_migrate import upgrade

                upgrade()  # what the service's start or `make run` did already
            result = cli(new, "restore", str(made))
            assert result.exit_code == 0, result.output
            assert len(rows(new, "SELECT id FROM case_file")) == 1


def test_restore_refuses_an_instance_that_holds_anything(tmp_path):
    with instance(tmp_path, "old") as old:
        file_reports(old, 1)
        made = backup(old)
        before = rows(old, "SELECT id, version FROM case_file")
        refused = cli(old, "restore", str(made))
        assert refused.exit_code == 1
        assert "目标数据库不是空的" in refused.output
        assert rows(old, "SELECT id, version FROM case_file") == before
        with instance(tmp_path, "new", migrated=False) as new:
            stray = Path(new.config["MEDIA_ROOT"]) / "ab" / "abcd.jpg"
            stray.parent.mkdir(parents=True)
            stray.write_bytes(b"x")
            refused = cli(new, "restore", str(made))
            assert refused.exit_code == 1
            assert "照片目录不是空的" in refused.output
            assert inspect_tables(new) == set()


def inspect_tables(app) -> set[str]:
    engine = create_engine(app.config["DATABASE_URL"])
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def flip_a_byte(path: Path, member: str) -> None:
    with tarfile.open(path) as tar:
        at = tar.getmember(member).offset_data + 100
    with open(path, "r+b") as handle:
        handle.seek(at)
        byte = handle.read(1)
        handle.seek(at)
        handle.write(bytes([byte[0] ^ 0x01]))


@pytest.mark.parametrize("member", ["database", "photo", "manifest.json"])
def test_a_corrupted_archive_is_refused_before_anything_is_written(tmp_path, member):
    with instance(tmp_path, "old") as old:
        file_reports(old, 1)
        made = backup(old)
        with tarfile.open(made) as tar:
            names = tar.getnames()
        name = {
            "database": next(n for n in names if n.startswith("database.")),
            "photo": next(n for n in names if n.startswith("media/")),
        }.get(member, member)
        flip_a_byte(made, name)
        checked = cli(old, "backup-verify", str(made))
        assert checked.exit_code == 1
        assert "校验和不符" in checked.output or "无法读取" in checked.output
        with instance(tmp_path, "new", migrated=False) as new:
            refused = cli(new, "restore", str(made))
            assert refused.exit_code == 1
            assert "未恢复" in refused.output
            assert inspect_tables(new) == set()
            assert media_files(new) == {}


def test_a_half_written_archive_is_refused(tmp_path):
    with instance(tmp_path, "old") as old:
        file_reports(old, 1)
        made = backup(old)
        data = made.read_bytes()
        made.write_bytes(data[: len(data) // 2])
        refused = cli(old, "backup-verify", str(made))
        assert refused.exit_code == 1
        assert "损坏" in refused.output or "清单" in refused.output


def forged(tmp_path: Path, **manifest) -> Path:
    """An archive whose checksums hold but whose manifest says what the test wants."""
    dump = tmp_path / "database.sqlite3"
    dump.write_bytes(b"not really a database")
    writer = archive.Writer(tmp_path / uuid.uuid4().hex, datetime.now(UTC))
    writer.add(dump, dump.name)
    fields = {
        "app_version": "9.9.9",
        "revision": revisions.head(),
        "database": "sqlite",
        "created_at": datetime.now(UTC).isoformat(),
    }
    return writer.finish(archive.Manifest(**(fields | manifest)))


def test_an_archive_of_a_newer_schema_format_or_another_database_is_refused(tmp_path):
    with instance(tmp_path, "new", migrated=False) as new:
        kind = new.config["DATABASE_URL"].split(":")[0].split("+")[0]
        newer = forged(tmp_path, revision="ffffffffffff", database=kind)
        refused = cli(new, "restore", str(newer))
        assert refused.exit_code == 1
        assert "比本程序新" in refused.output
        assert "9.9.9" in refused.output
        other = "postgresql" if kind == "sqlite" else "sqlite"
        refused = cli(new, "restore", str(forged(tmp_path, database=other)))
        assert refused.exit_code == 1
        assert f"来自 {other} 数据库" in refused.output
        refused = cli(new, "restore", str(forged(tmp_path, database=kind, format=2)))
        assert refused.exit_code == 1
        assert "不认识的备份格式：2" in refused.output
        assert inspect_tables(new) == set()


def test_a_failed_backup_leaves_no_archive(tmp_path, monkeypatch):
    from server.backups import database

    def broken(url, target):
        raise database.DatabaseError("pg_dump 失败：模拟")

    with instance(tmp_path, "old") as old:
        monkeypatch.setattr(database, "snapshot", broken)
        result = cli(old, "backup")
        assert result.exit_code == 1
        assert "备份失败" in result.output
        assert list(Path(old.config["BACKUP_DIR"]).iterdir()) == []


def test_an_archive_is_readable_by_its_owner_alone(tmp_path):
    with instance(tmp_path, "old") as old:
        made = backup(old)
        assert made.stat().st_mode & 0o077 == 0
        assert made.parent.stat().st_mode & 0o077 == 0


# --- `db upgrade` backs up first -------------------------------------------------------


def test_db_upgrade_backs_up_a_database_behind_head_first(tmp_path):
    with instance(tmp_path, "old") as old:
        codes = file_reports(old, 1)
        previous = revisions.down_revision(revisions.head())
        with old.app_context():
            downgrade(revision=previous)
        result = cli(old, "db", "upgrade")
        assert result.exit_code == 0, result.output
        assert "升级前已备份" in result.output, result.output
        (made,) = Path(old.config["BACKUP_DIR"]).glob("*-pre-upgrade.tar")
        manifest = archive.verify(made)
        assert manifest.revision == previous
        assert rows(old, "SELECT version_num FROM alembic_version") == [(revisions.head(),)]
        # At head, `db upgrade` (each `make run`) makes no backup.
        again = cli(old, "db", "upgrade")
        assert again.exit_code == 0
        assert "备份" not in again.output
        assert list(Path(old.config["BACKUP_DIR"]).iterdir()) == [made]
        # The archive of the older schema restores, and is migrated to head.
        with instance(tmp_path, "new", migrated=False) as new:
            restored = cli(new, "restore", str(made))
            assert restored.exit_code == 0, restored.output
            assert "已迁移到当前版本" in restored.output
            assert rows(new, "SELECT version_num FROM alembic_version") == [(revisions.head(),)]
            assert [c for (c,) in rows(new, "SELECT code FROM case_file ORDER BY id")] == codes


def test_db_upgrade_makes_no_backup_of_a_new_database_or_when_told_not_to(tmp_path):
    with instance(tmp_path, "new", migrated=False) as new:
        result = cli(new, "db", "upgrade")
        assert result.exit_code == 0, result.output
        assert not Path(new.config["BACKUP_DIR"]).exists()
        with new.app_context():
            downgrade(revision=revisions.down_revision(revisions.head()))
        result = cli(new, "db", "upgrade", "--no-backup")
        assert result.exit_code == 0, result.output
        assert not Path(new.config["BACKUP_DIR"]).exists()
        assert rows(new, "SELECT version_num FROM alembic_version") == [(revisions.head(),)]


def test_db_upgrade_stops_when_its_backup_fails(tmp_path):
    with instance(tmp_path, "old") as old:
        with old.app_context():
            downgrade(revision=revisions.down_revision(revisions.head()))
        Path(old.config["BACKUP_DIR"]).write_text("a file where the folder should be")
        result = cli(old, "db", "upgrade")
        assert result.exit_code == 1
        assert "升级前的备份失败，未升级" in result.output
        assert "--no-backup" in result.output
        assert rows(old, "SELECT version_num FROM alembic_version") != [(revisions.head(),)]


# --- The nightly timer -----------------------------------------------------------------

DEPLOY = Path(__file__).parents[1] / "deploy"


def unit_settings(name: str) -> dict[str, str]:
    settings = {}
    for line in (DEPLOY / name).read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings[key.strip()] = value.strip()
    return settings


def test_the_nightly_backup_unit_backs_up_and_prunes_where_it_may_write():
    service, timer = (
        unit_settings("grid-report-backup.service"),
        unit_settings("grid-report-backup.timer"),
    )
    sweep = unit_settings("grid-report-sweep.service")
    program, *arguments = service["ExecStart"].split()
    assert program == "/opt/grid-report/venv/bin/grid-report"
    assert arguments[0] == "backup"
    assert "--prune" in arguments
    assert arguments[1].startswith(service["ReadWritePaths"] + "/")
    for hardening in (
        "User",
        "EnvironmentFile",
        "NoNewPrivileges",
        "PrivateTmp",
        "ProtectSystem",
        "ProtectHome",
        "ReadWritePaths",
    ):
        assert service[hardening] == sweep[hardening], hardening
    assert timer["Persistent"] == "true"
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("no systemd-analyze here to read the timer's calendar")
    parsed = subprocess.run(
        [analyze, "calendar", timer["OnCalendar"]], capture_output=True, text=True, check=False
    )
    assert parsed.returncode == 0, parsed.stderr
    assert "Asia/Shanghai" in parsed.stdout


def test_a_restore_whose_migration_fails_says_what_stands_and_what_to_run(tmp_path, monkeypatch):
    import flask_migrate

    with instance(tmp_path, "old") as old:
        codes = file_reports(old, 1)
        previous = revisions.down_revision(revisions.head())
        with old.app_context():
            downgrade(revision=previous)
        made = backup(old)
        with instance(tmp_path, "new", migrated=False) as new:
            real = flask_migrate.upgrade

            def broken(*args, **kwargs):
                raise RuntimeError("a migration failed")

            monkeypatch.setattr(flask_migrate, "upgrade", broken)
            result = cli(new, "restore", str(made))
            assert result.exit_code == 1
            assert "备份已完整恢复" in result.output
            assert "grid-report db upgrade" in result.output
            assert rows(new, "SELECT version_num FROM alembic_version") == [(previous,)]
            monkeypatch.setattr(flask_migrate, "upgrade", real)
            result = cli(new, "db", "upgrade")
            assert result.exit_code == 0, result.output
            assert rows(new, "SELECT version_num FROM alembic_version") == [(revisions.head(),)]
            assert [c for (c,) in rows(new, "SELECT code FROM case_file")] == codes


@pytest.mark.parametrize("name", ["media//{outside}/escaped", "media/./x", "media/a/../../x"])
def test_an_archive_member_that_leaves_its_folder_is_refused(tmp_path, name):
    """Whoever makes an archive writes its manifest and checksums too: a member's name
    must not carry a restore outside the photo folder (media//tmp/x would lose media/ and
    become /tmp/x)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8 not much of a photo")
    writer = archive.Writer(tmp_path / uuid.uuid4().hex, datetime.now(UTC))
    writer.add(photo, name.format(outside=str(outside).lstrip("/")))
    made = writer.finish(
        archive.Manifest(
            app_version="0.7.0",
            revision=revisions.head(),
            database="sqlite",
            created_at=datetime.now(UTC).isoformat(),
        )
    )
    with pytest.raises(archive.ArchiveBroken):
        archive.verify(made)
    target = tmp_path / "media"
    target.mkdir()
    with suppress(archive.ArchiveBroken):
        archive.extract_tree(made, "media", target)
    assert list(outside.iterdir()) == []


def test_a_database_holding_tables_of_another_system_is_not_overwritten(tmp_path):
    """A restore replaces the whole database: one named by mistake (a shared database,
    another system's) is refused, and its tables stay as they were."""
    with instance(tmp_path, "old") as old:
        made = tmp_path / "archives"
        assert cli(old, "backup", str(made)).exit_code == 0
        [archived] = made.glob("grid-report-*.tar")
    with instance(tmp_path, "other", migrated=False) as other:
        engine = create_engine(other.config["DATABASE_URL"])
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE payroll (id INTEGER PRIMARY KEY)"))
            connection.execute(text("INSERT INTO payroll (id) VALUES (1)"))
        refused = cli(other, "restore", str(archived))
        assert refused.exit_code == 1
        assert "不属于本程序的表（payroll）" in refused.output
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM payroll")).scalar() == 1
        engine.dispose()


def test_photos_that_cannot_be_moved_in_are_kept_and_named(tmp_path):
    """The database is in, but the photo folder cannot be made (here a file stands where
    it should be): the photos stay in their staging folder, which the message names, and
    nothing is lost."""
    with instance(tmp_path, "old") as old:
        file_reports(old, count=1)
        made = backup(old)
        photos = media_files(old)
        with instance(tmp_path, "new", migrated=False) as new:
            blocked = Path(new.config["MEDIA_ROOT"])
            blocked.parent.mkdir(parents=True, exist_ok=True)
            blocked.write_bytes(b"")
            result = cli(new, "restore", str(made))
            assert result.exit_code == 1
            assert "照片保留在" in result.output
            [kept] = blocked.parent.glob(f".{blocked.name}.restoring-*")
            assert str(kept) in result.output.replace("\n", "")
            found = {
                p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                for p in kept.rglob("*")
                if p.is_file()
            }
            assert found == photos
