"""The app's commands: `grid-report db upgrade` (Flask-Migrate's, backing up first),
`seed-demo`, `create-user`, `case CODE`, `backup`, `restore`, and the jobs. `init_app`
registers them on an app's command group when the command line first asks for one
(server/app.py's `Commands`); the `grid-report` program itself is server/cli.py.

Each command is one unit of work (server/db/unit.py): it commits once at the end, or not
at all; `init_app` makes it so for every command here but the backups', which work through
connections of their own (a snapshot is one read transaction, a restore one load).

A command imports in its body what only it uses (Alembic, the demo town, backups, the
sweep, ledgers, the town's file): `grid-report X` then loads X's modules, not every
command's, and a command that needs only the core (server/cli.py's CORE_COMMANDS) builds
no surface either. `export-qr` is registered here but lives in server/organisation/posters.py:
named first on the command line, it runs without the app at all (server/cli.py's
STANDALONE).
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from functools import cached_property
from pathlib import Path

import click
from flask import Flask, current_app, g
from flask.cli import with_appcontext
from sqlalchemy import func, select

from server.cases.lookup import find_case
from server.db import db, unit
from server.figures.periods import Period
from server.follow_through import notifications
from server.infra import clock, codes
from server.infra.errors import DomainError
from server.models import Department, Grid, Role, Town, User, Village
from server.organisation import catalogue, qr
from server.organisation.posters import export_qr_command
from server.trust import audit, identity, passwords


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Only when the database has no users yet.")
def seed_demo_command(if_empty: bool) -> None:
    """Load the demo town: 45 villages, departments, accounts and cases."""

    if current_app.config["ENV"] == "production":
        # Its accounts all share a published password (DEMO_PASSWORD).
        raise click.ClickException("演示数据的账号共用公开的密码：生产环境不能载入演示数据。")
    if if_empty and db.session.scalar(select(func.count(User.id))):
        click.echo("database already has data; demo not loaded")
        return
    from server import demo  # here: see the module's note

    summary = demo.seed()
    click.echo("demo loaded: " + ", ".join(f"{k} {v}" for k, v in summary.items()))


@click.command("seed-categories")
def seed_categories_command() -> None:
    """Install the default categories (DESIGN.md) that are missing, by code."""
    added = catalogue.install_categories()
    click.echo(f"categories added: {added}")


@click.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--name", "display_name", help="Display name (defaults to the username).")
@click.option("--department", help="Department name (handlers).")
@click.option("--grid", "grid_codes", multiple=True, help="Grid code (grid workers; repeatable).")
@click.option("--town", "town_name", help="The town's name (when the district has several).")
@click.option(
    "--district", is_flag=True, help="A district account (center, leader, admins): no town."
)
@click.password_option(help="Password (asked for when not given).")
def create_user_command(
    username, role, display_name, department, grid_codes, town_name, district, password
) -> None:
    """Create an account."""
    try:
        passwords.check_policy(password)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    if db.session.scalar(select(User).where(User.username == username)):
        raise click.ClickException(f"用户名已存在：{username}")
    user = User(
        username=username,
        display_name=display_name or username,
        role=Role(role),
        password_hash=passwords.hash_password(password),
    )
    if role == Role.HANDLER:
        if not department:
            raise click.ClickException("处置人员须指定部门（--department）。")
        user.department = _department_named(department, town_name, district)
    elif department:
        raise click.ClickException("只有处置人员属于部门。")
    for code in grid_codes:
        grid = db.session.scalar(select(Grid).where(Grid.code == code))
        if grid is None or not grid.active:
            raise click.ClickException(f"未知或已停用的网格：{code}")
        user.grids.append(grid)
    user.town_id = _town_for_account(user, town_name, district)
    db.session.add(user)
    db.session.flush()
    # As an account made on the admin's pages is (accounts.create_user), with no one's
    # name: the operator at the machine.
    audit.record(
        "user.create",
        actor=None,
        object_type="user",
        object_id=user.id,
        object_town=user.town_id,
        username=username,
        role=role,
        via="cli",
    )
    click.echo(f"created {role} {username}")


def _department_named(name: str, town_name: str | None, district: bool) -> Department:
    """The department of `name`: names are a town's own, so where several towns have one
    of that name, --town (or --district) says whose."""
    named = db.session.scalars(
        select(Department).where(Department.name == name).order_by(Department.id)
    ).all()
    if district:
        named = [d for d in named if d.town_id is None]
    elif town_name:
        town_id = db.session.scalar(select(Town.id).where(Town.name == town_name))
        named = [d for d in named if d.town_id is not None and d.town_id == town_id]
    if not named:
        raise click.ClickException(f"未知部门：{name}")
    if len(named) > 1:
        raise click.ClickException(f"有多个镇有部门“{name}”：请用 --town 指定，或 --district。")
    return named[0]


def _town_for_account(user: User, town_name: str | None, district: bool) -> int | None:
    """A field account's town is its department's (which --town or --district chose) or
    its grid's; another account's is the one named, or the only one there is; a district
    account has none."""
    if user.department is not None:
        return user.department.town_id
    if user.grids:
        if district or town_name:
            raise click.ClickException("网格员属于其网格所在的镇。")
        return user.grids[0].village.town_id
    if district:
        if user.role == Role.GRID_WORKER:
            raise click.ClickException("网格员属于其网格所在的镇。")
        return None  # the district's center, leaders and its own three duties (三员)
    towns = db.session.scalars(select(Town).order_by(Town.id)).all()
    if not towns and not town_name:
        return None  # the first accounts, made before the town is imported
    named = [t for t in towns if t.name == town_name] if town_name else towns
    if len(named) != 1:
        raise click.ClickException(
            f"未知的镇：{town_name}" if town_name else "有多个镇：请用 --town 指定，或 --district。"
        )
    return named[0].id


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def import_command(file: str) -> None:
    """Import the town's villages, grids, departments and accounts from FILE (the Excel
    template of `grid-report import-template`): every row is checked first; a file with
    any fault writes nothing and names each fault. New accounts' one-time passwords are
    printed once."""
    from server.organisation import town_file  # here: see the module's note

    try:
        outcome = town_file.import_town(Path(file).read_bytes(), actor=None)
    except town_file.ImportRefused as error:
        for fault in error.faults:
            click.echo(str(fault), err=True)
        raise click.ClickException(
            f"未导入：{len(error.faults)} 处错误，未写入任何数据。"
        ) from None
    for sheet in town_file.SHEETS:
        if sheet in outcome.created or sheet in outcome.changed:
            created, changed = outcome.created.get(sheet, 0), outcome.changed.get(sheet, 0)
            click.echo(f"{sheet}：新建 {created}，更新 {changed}")
    if outcome.accounts:
        click.echo("新账号的一次性密码（只显示这一次；首次登录须修改）：")
        for username, name, role, password in outcome.accounts:
            click.echo(f"  {username}\t{name}\t{role}\t{password}")


@click.command("import-template")
@click.argument("file", type=click.Path(dir_okay=False))
def import_template_command(file: str) -> None:
    """Write the empty Excel template of `grid-report import` to FILE."""
    from server.organisation import town_file  # here: see the module's note

    Path(file).write_bytes(town_file.template())
    click.echo(f"wrote the template to {file}")


@click.command("case")
@click.argument("code")
def case_command(code: str) -> None:
    """Print a case and its timeline (times in the town's zone)."""
    case = find_case(code)
    if case is None:
        raise click.ClickException(f"找不到案件：{code}")

    def when(moment):
        return clock.local(moment).strftime("%Y-%m-%d %H:%M") if moment else "-"

    click.echo(
        f"案件 {codes.display(case.code)}  [{case.status.label}]  {case.category.name}"
        f"（{case.category.group.label}）"
    )
    click.echo(
        f"  村：{case.village.name}  来源：{case.source.label}"
        f"  风险：{case.risk_level.label}"
        f"  上报：{when(case.created_at)}"
    )
    if case.lead_department:
        click.echo(f"  主办：{case.lead_department.name}")
    if case.due_at:
        click.echo(f"  当前环节：{case.step.label}  期限：{when(case.due_at)}")
    flags = [
        name
        for name, on in (
            ("督办", case.supervised),
            ("上报区级", case.escalated),
            ("紧急", case.urgent),
        )
        if on
    ]
    if flags:
        click.echo("  标记：" + "、".join(flags))
    click.echo(f"  描述：{case.description}")
    click.echo("时间线：")
    from server.cases.workflow import ACTIONS  # here: see the module's note

    for event in case.events:
        actor = event.actor.display_name if event.actor else "群众/系统"
        move = event.to_status.label if event.from_status != event.to_status else ""
        label = ACTIONS[event.action].label if event.action in ACTIONS else "上报"
        click.echo(
            f"  {when(event.at)}  {label:<6} {actor:<12} {move}"
            f"{'  ' + event.note if event.note else ''}"
        )


@click.command("rotate-qr")
@click.argument("village_code")
def rotate_qr_command(village_code: str) -> None:
    """Replace a village's QR token (a defaced or abused poster); print the new URL."""
    village = db.session.scalar(select(Village).where(Village.code == village_code))
    if village is None:
        raise click.ClickException(f"未知的村：{village_code}")
    qr.rotate(village, actor=None)
    click.echo(f"{village.name}: {qr.village_url(village)}")


@click.command("export-ledger")
@click.argument("kind", type=click.Choice(["disputes", "hazards", "cases", "screenings"]))
@click.option("--from", "first", required=True, help="First day, YYYY-MM-DD.")
@click.option("--to", "last", required=True, help="Last day (included), YYYY-MM-DD.")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
def export_ledger_command(kind: str, first: str, last: str, file: str) -> None:
    """Write a ledger (台账) for the days FROM..TO to an Excel FILE."""

    try:
        start, end = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError:
        raise click.ClickException("日期格式应为 YYYY-MM-DD。") from None
    if end < start:
        raise click.ClickException("截止日期早于起始日期。")
    period = Period(start, end + timedelta(days=1), f"{start}至{end}")
    from server.figures import ledgers  # here: see the module's note

    # The export itself is audited: a ledger carries names and phones.
    with click.progressbar(length=0, label="导出中", show_pos=True) as bar:
        written = ledgers.write(kind, period, file, progress=bar.update)

    audit.record(
        "ledger.exported",
        actor=None,
        object_type="ledger",
        object_id=kind,
        first=first,
        last=last,
        rows=written,
        via="cli",
    )
    click.echo(f"{ledgers.KINDS[kind][0]}：{written} 行 → {file}")


@click.command("calendar-confirm")
@click.argument("year", type=int)
@click.argument("file", type=click.File(encoding="utf-8"))
def calendar_confirm_command(year: int, file) -> None:
    """Confirm YEAR's holidays and make-up workdays from the State Council's notice, its
    text (or a list of days) in FILE (- for standard input)."""
    from server.organisation import management  # here: see the module's note

    try:
        days = management.confirm_year(year, file.read(), actor=None)
    except DomainError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"{year}年的节假日安排已确认：{days}天。")


@click.command("sweep")
def sweep_command() -> None:
    """Mark due-soon and overdue steps, supervise and chase (run every minute)."""
    from server.follow_through import sweep  # here: see the module's note

    click.echo("sweep: " + ", ".join(f"{k} {v}" for k, v in sweep.run().items()))


@click.group("audit")
def audit_group() -> None:
    """The audit log's chain and retention."""


@audit_group.command("verify")
def audit_verify_command() -> None:
    """Prove no row of the audit log was changed or taken out (exit 1 if one was)."""
    verdict = audit.verify()
    if verdict.broken_at is not None:
        click.echo(
            f"审计日志校验失败：第 {verdict.broken_at} 条，{verdict.reason}"
            f"（此前 {verdict.checked} 条无误）。",
            err=True,
        )
        raise SystemExit(1)
    click.echo(f"审计日志校验通过：{verdict.checked} 条记录前后相接，无改动。")


@audit_group.command("purge")
def audit_purge_command() -> None:
    """Delete audit rows past AUDIT_RETENTION_DAYS (never under six months)."""

    removed = audit.purge(int(current_app.config["AUDIT_RETENTION_DAYS"]))
    click.echo(
        f"audit purge: {removed} rows older than "
        f"{current_app.config['AUDIT_RETENTION_DAYS']} days removed"
    )


@click.group("identity")
def identity_group() -> None:
    """Informants' identities at rest: rotation and retention."""


@identity_group.command("reseal")
def identity_reseal_command() -> None:
    """Seal every informant identity with the first key of IDENTITY_KEYS (after adding a
    new key first; then the old one may go)."""
    click.echo(f"identity reseal: {identity.reseal()} cases")


@identity_group.command("purge")
def identity_purge_command() -> None:
    """Forget the identity of informants whose case ended IDENTITY_RETENTION_DAYS ago."""

    removed = 0
    while batch := identity.purge(int(current_app.config["IDENTITY_RETENTION_DAYS"])):
        removed += batch  # a batch at a time, each statement small (identity.PURGE_BATCH)
    click.echo(f"identity purge: {removed} cases")


@click.command("notify")
def notify_command() -> None:
    """Deliver pending notifications (run every minute)."""
    click.echo("notify: " + ", ".join(f"{k} {v}" for k, v in notifications.deliver_due().items()))


@click.command("schedule")
@click.option("--every", default=60.0, show_default=True, help="Seconds between runs.")
@click.option("--times", default=0, help="Stop after this many runs (0: until stopped).")
def schedule_command(every: float, times: int) -> None:
    """Run the sweep and the sender on their schedule, for `make run`: in production the
    systemd timers do it (deploy/grid-report-sweep.timer, -notify.timer)."""
    from server.follow_through import sweep  # here: see the module's note

    done = 0
    while True:
        started = time.monotonic()
        for name, job in (("sweep", sweep.run), ("notify", notifications.deliver_due)):
            try:
                counts = job()
                unit.finish()  # each run of a job is a unit of its own
                click.echo(f"{name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
            except Exception as error:
                unit.abandon()
                click.echo(f"{name}: failed ({type(error).__name__})", err=True)
        done += 1
        if times and done >= times:
            return
        time.sleep(max(0.0, every - (time.monotonic() - started)))


@click.command("backup")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option(
    "--prune",
    is_flag=True,
    help="Then delete the archives the retention rule does not keep (7 daily, 4 weekly, "
    "12 monthly).",
)
def backup_command(directory: str | None, prune: bool) -> None:
    """Back up the database and the photos into one archive in DIRECTORY (default
    BACKUP_DIR), while the app serves."""
    from server import backups  # here: see the module's note
    from server.backups import database as backup_database

    config = current_app.config
    target = Path(directory or config["BACKUP_DIR"])
    try:
        made = backups.make(
            target, database_url=config["DATABASE_URL"], media_root=Path(config["MEDIA_ROOT"])
        )
    except (OSError, backup_database.DatabaseError) as error:
        raise click.ClickException(f"备份失败：{error}") from None
    manifest = made.manifest
    click.echo(
        f"备份完成：{made.path}（数据库版本 {manifest.revision}，快照于 {manifest.snapshot_at}，"
        f"文件 {len(manifest.files)} 个）"
    )
    if manifest.photos_missing:
        click.echo(
            f"注意：数据库引用的 {len(manifest.photos_missing)} 张照片在照片目录中已不存在，"
            "未能备份。",
            err=True,
        )
    if prune:
        removed = backups.prune(target, zone=config["TZ"])
        click.echo(f"按保留规则删除旧备份 {len(removed)} 份。")


@click.command("backup-verify")
@click.argument("archive_file", type=click.Path(exists=True, dir_okay=False))
def backup_verify_command(archive_file: str) -> None:
    """Read a backup archive whole and check every file against its manifest (exit 1 if
    anything does not match)."""
    from server import backups  # here: see the module's note

    try:
        manifest = backups.verify(Path(archive_file))
    except backups.ArchiveBroken as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"备份完好：{len(manifest.files)} 个文件校验一致；{manifest.database} 数据库，"
        f"版本 {manifest.revision}，生成于 {manifest.created_at}"
        f"（grid-report {manifest.app_version}）。"
    )


@click.command("restore")
@click.argument("archive_file", type=click.Path(exists=True, dir_okay=False))
def restore_command(archive_file: str) -> None:
    """Restore a backup archive into this instance, which must be empty (a new database
    and an empty MEDIA_ROOT); migrate it to head when it is older. Stop the service
    first."""
    config = current_app.config
    # The load writes through connections of its own: none of the app's may hold a
    # transaction open on the tables it replaces.
    db.session.remove()
    db.engine.dispose()
    import flask_migrate  # here: see the module's note

    from server import backups
    from server.backups import database as backup_database
    from server.backups import restore as backup_restore

    try:
        restored = backup_restore.restore(
            Path(archive_file),
            database_url=config["DATABASE_URL"],
            media_root=Path(config["MEDIA_ROOT"]),
            metadata=db.metadata,
            upgrade=flask_migrate.upgrade,
        )
    except (backup_restore.RestoreRefused, backups.ArchiveBroken) as error:
        raise click.ClickException(f"未恢复：{error}") from None
    except backup_database.DatabaseError as error:
        raise click.ClickException(
            f"恢复失败，未恢复任何数据：{error}。目标里原有的空表可能已删除；"
            "修正后对同一个实例再运行 grid-report restore。"
        ) from None
    except backup_restore.RestoredInPart as error:
        raise click.ClickException(str(error)) from None
    manifest = restored.manifest
    click.echo(
        f"已恢复：{manifest.created_at} 的备份，照片 {restored.photos} 个文件，"
        f"数据库版本 {manifest.revision}。"
    )
    if restored.migrated_from:
        click.echo("备份的数据库结构较旧，已迁移到当前版本。")


@click.option(
    "--no-backup", is_flag=True, help="Migrate without backing up first (not recommended)."
)
@with_appcontext
def _upgrade_with_backup(directory, sql, tag, x_arg, revision, no_backup) -> None:
    """Upgrade to a later version, after backing up a database that holds data."""
    from server import backups  # here: see the module's note
    from server.backups import database as backup_database

    if not sql and not no_backup:
        config = current_app.config
        try:
            made = backups.before_upgrade(
                db.engine,
                Path(config["BACKUP_DIR"]),
                database_url=config["DATABASE_URL"],
                media_root=Path(config["MEDIA_ROOT"]),
            )
        except (OSError, backup_database.DatabaseError) as error:
            raise click.ClickException(
                f"升级前的备份失败，未升级：{error}。修正后重试；确需不备份就升级，加 --no-backup。"
            ) from None
        if made is not None:
            click.echo(f"升级前已备份：{made.path}")
    import flask_migrate  # here: see the module's note

    flask_migrate.upgrade(directory or g.directory, revision, sql, tag, x_arg or g.x_arg)


class _MigrationCommands(click.Group):
    """Flask-Migrate's `db` group, with its `upgrade` backing up first (a copy: the library's
    own group is left as it is), made when `db` is asked for (see the module's note)."""

    def __init__(self) -> None:
        super().__init__("db", help="Perform database migrations.")

    @cached_property
    def upstream(self) -> click.Group:
        from flask_migrate.cli import db as upstream  # here: see the module's note

        upgrade = click.Command(
            "upgrade",
            callback=_upgrade_with_backup,
            params=[*upstream.commands["upgrade"].params, *_upgrade_with_backup.__click_params__],
            help="Upgrade to a later version; a database behind head is backed up first "
            "(into BACKUP_DIR).",
        )
        return click.Group(
            "db",
            callback=upstream.callback,
            params=list(upstream.params),
            help=upstream.help,
            commands={**upstream.commands, "upgrade": upgrade},
        )

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        # The context of the library's group: click then runs it, and it parses its own
        # options (--directory, -x) and finds its own commands.
        return self.upstream.make_context(info_name, args, parent=parent, **extra)


def _one_unit_each(command: click.Command) -> click.Command:
    """Make `command` (and a group's commands) one unit of work each."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _one_unit_each(sub)
    elif command.callback is not None:
        command.callback = unit.command(command.callback)
    return command


def init_app(app: Flask) -> None:
    """Register the commands on the app's CLI, each one unit of work."""
    for command in (
        seed_demo_command,
        seed_categories_command,
        create_user_command,
        import_command,
        import_template_command,
        case_command,
        rotate_qr_command,
        sweep_command,
        notify_command,
        export_ledger_command,
        calendar_confirm_command,
        schedule_command,
        audit_group,
        identity_group,
    ):
        app.cli.add_command(_one_unit_each(command))
    # Not units of work: they open connections of their own (see the module's note), or
    # only read (export-qr, which also runs without the app: server/organisation/posters.py).
    for command in (backup_command, backup_verify_command, restore_command, export_qr_command):
        app.cli.add_command(command)
    app.cli.add_command(_MigrationCommands())
