"""Ledgers (台账) exported from the web: made in the background with progress, fetched
once, then gone from the server.

A ledger of a busy town's year runs to tens of thousands of rows: written inside the
request it would hold a worker, and leave the clerk before a page that says nothing, for
as long as it takes: `benchmarks/bench_figures.py --cases 100000 --export 100000` wrote
the case ledger of 100,026 cases in 47 s on this 2-core machine (a minute is also
nginx's default proxy timeout). So an export is a small job: the request starts a thread
of the same worker that streams the rows from the database into a write-only workbook
(server/figures/ledgers.py) in the instance folder and counts them into a status file
beside it. The page asks for that status (any worker of the machine can read it) and
offers the file when it is done.

Why not a task queue (RQ, Celery): exports are a few a month, each one worker's thread
for seconds; a queue would add a service to install, run and watch for them. What a
queue would give (a job surviving a restart) is not needed: a lost export is asked for
again. The status is a file, not a row, so that counting progress never takes SQLite's
write lock from the people filing reports.

A ledger names parties: the file is deleted once downloaded, and any left unfetched is
removed after `KEEP` (at the next export and by the sweep). Only the person who asked
can fetch it, and the download is audited.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

from flask import Flask, current_app

from server.db import db
from server.figures import ledgers
from server.figures.periods import Period
from server.infra.errors import NotFound
from server.models import User

KEEP = 3600  # seconds an unfetched export is kept
SILENT = 120  # seconds without progress after which a running export is given up
TOKEN_LENGTH = 22


@dataclass
class Status:
    user_id: int
    kind: str
    filename: str
    period: str
    state: str = "running"  # running, done, failed
    done: int = 0
    total: int = 0
    started: float = 0.0

    @property
    def percent(self) -> int:
        if self.state == "done":
            return 100
        return min(99, self.done * 100 // self.total) if self.total else 0


def _folder() -> Path:
    folder = Path(current_app.instance_path) / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _paths(token: str) -> tuple[Path, Path]:
    if len(token) != TOKEN_LENGTH or not all(c.isalnum() or c in "-_" for c in token):
        raise NotFound("没有这个导出，或已经下载过。")
    folder = _folder()
    return folder / f"{token}.json", folder / f"{token}.xlsx"


def _save(token: str, status: Status) -> None:
    status_path, _ = _paths(token)
    partial = status_path.with_suffix(".json.part")
    partial.write_text(json.dumps(asdict(status)), encoding="utf-8")
    os.replace(partial, status_path)  # readers never see half a file


# What the town calls each ledger's file (the sheet inside has its formal title).
NAMES = {
    "disputes": "矛盾纠纷台账",
    "hazards": "隐患台账",
    "cases": "案件台账",
    "screenings": "排查台账",
}


def filename(kind: str, period: Period) -> str:
    """The file's Chinese name with its period, e.g. 矛盾纠纷台账_2026年11月.xlsx."""
    return f"{NAMES[kind]}_{period.label}.xlsx"


def start(kind: str, period: Period, *, user_id: int) -> str:
    """Begin exporting ledger `kind` for `period`; returns the export's token."""
    if kind not in NAMES:
        raise NotFound("没有这种台账。")
    clean_up()
    token = secrets.token_urlsafe(16)  # TOKEN_LENGTH characters
    status = Status(user_id, kind, filename(kind, period), period.label, started=time.time())
    # A town's people export their own town's rows; the district's, every town's.
    town_id = db.session.get(User, user_id).town_id
    status.total = ledgers.count(kind, period, town_id)
    _save(token, status)
    app = current_app._get_current_object()
    thread = threading.Thread(
        target=_run,
        args=(app, token, status, period, town_id),
        name=f"export-{kind}",
        daemon=True,
    )
    thread.start()
    return token


def _run(app: Flask, token: str, status: Status, period: Period, town_id: int | None) -> None:
    with app.app_context():
        _, target = _paths(token)
        partial = target.with_suffix(".xlsx.part")

        def counted(rows: int) -> None:
            status.done += rows
            _save(token, status)

        try:
            rows = ledgers.write(
                status.kind, period, str(partial), progress=counted, town_id=town_id
            )
            os.replace(partial, target)
            status.done, status.state = rows, "done"
        except Exception as error:
            # The type only: a message may quote a row (a party's name, a description).
            app.logger.error("ledger export %s failed: %s", status.kind, type(error).__name__)
            partial.unlink(missing_ok=True)
            status.state = "failed"
        finally:
            db.session.remove()  # this thread's session, read only
        _save(token, status)


def status(token: str, *, user_id: int) -> Status:
    """The export's progress, for the person who asked for it only."""
    status_path, _ = _paths(token)
    try:
        found = Status(**json.loads(status_path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        raise NotFound("没有这个导出，或已经下载过。") from None
    if found.user_id != user_id:
        raise NotFound("没有这个导出，或已经下载过。")
    if found.state == "running" and time.time() - status_path.stat().st_mtime > SILENT:
        found.state = "failed"  # its worker was restarted (or killed) on the way
    return found


def take(token: str, *, user_id: int) -> tuple[Status, BinaryIO]:
    """The finished file, once, open for streaming: its name is removed as it is handed
    over (the open file is read to the end, then gone from the disk)."""
    found = status(token, user_id=user_id)
    status_path, target = _paths(token)
    if found.state != "done":
        raise NotFound("导出尚未完成，或已经下载过。")
    try:
        opened = target.open("rb")
    except OSError:
        raise NotFound("导出尚未完成，或已经下载过。") from None
    target.unlink(missing_ok=True)
    status_path.unlink(missing_ok=True)
    return found, opened


def clean_up() -> int:
    """Remove exports nobody fetched within KEEP seconds (they name parties); how many."""
    limit = time.time() - KEEP
    removed = 0
    for path in _folder().iterdir():
        try:
            if path.stat().st_mtime < limit:
                path.unlink(missing_ok=True)
                removed += 1
        except OSError:
            continue
    return removed
