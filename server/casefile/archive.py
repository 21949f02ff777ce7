"""Filing a closed case in the archive (归档): its number for the year (卷号) and how long
it is kept (保管期限).

The workflow's close calls `file_case` in the same transaction, so this module builds on
the models and the numbering alone (never on the workflow or the case operations).

The retention rule (our reading of 人民调解卷宗 practice and the archives' 永久/长期/短期
scale; a town with its own rule changes `retention_of`): a file is kept long (长期) when
what it settled can be claimed on later — a dispute settled by mediation (the agreement is
a contract, and may be confirmed by a court), a group dispute, one that might turn
criminal (民转刑), a case escalated to the district, one whose file holds a signed
agreement, and every enforcement case (an administrative act that may be reviewed);
everything else is kept short (短期). A file once kept long stays long when its case is
closed again after a reopening.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from server.casefile import numbering
from server.db import db
from server.infra import clock
from server.models import (
    Case,
    CaseArchive,
    CaseDocument,
    CategoryGroup,
    DocumentKind,
    ResultCode,
    Retention,
    User,
)

RETENTION_YEARS = {Retention.LONG: 30, Retention.SHORT: 10}


def retention_of(case: Case) -> tuple[Retention, str]:
    """How long `case`'s file is kept, and why (the cover says it)."""
    if case.category.group == CategoryGroup.ENFORCEMENT:
        return Retention.LONG, "综合执法案件"
    if case.result_code == ResultCode.MEDIATED:
        return Retention.LONG, "经调解达成协议"
    signed = select(CaseDocument.id).where(
        CaseDocument.case_id == case.id,
        CaseDocument.kind == DocumentKind.AGREEMENT,
        CaseDocument.signed_at.is_not(None),
    )
    if db.session.scalar(signed.limit(1)) is not None:
        # A signed agreement on file is a contract whatever the last round's result.
        return Retention.LONG, "存有签字的调解协议书"
    if case.group_dispute:
        return Retention.LONG, "群体性纠纷"
    if case.criminal_risk:
        return Retention.LONG, "有民转刑风险"
    if case.escalated:
        return Retention.LONG, "已上报区级"
    return Retention.SHORT, "一般案件"


def archive_of(case: Case) -> CaseArchive | None:
    """The case's archive entry, if it was ever closed."""
    return db.session.scalar(select(CaseArchive).where(CaseArchive.case_id == case.id))


def file_case(case: Case, *, at: datetime, actor: User | None) -> CaseArchive:
    """File `case` (being closed now) in the archive: a number for the year it is first
    closed in; closed again after a reopening, it keeps its number and is re-dated."""
    retention, why = retention_of(case)
    entry = archive_of(case)
    if entry is None:
        year = clock.local(at).year
        entry = CaseArchive(
            case_id=case.id,
            town_id=case.town_id,
            year=year,
            serial=numbering.take("archive", year, case.town),
        )
        entry.number = numbering.display("archive", entry.year, entry.serial, case.town)
        db.session.add(entry)
    if entry.retention == Retention.LONG and retention == Retention.SHORT:
        # Closed again after a reopening: what made it long still stands in its file.
        retention, why = entry.retention, entry.note
    entry.retention, entry.note = retention, why
    entry.archived_at, entry.archived_by_id = at, actor.id if actor else None
    return entry
