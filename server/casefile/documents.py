"""The papers of people's mediation, made from templates (司法部《人民调解文书格式》).

Each kind is a `Template`: its title, its fields (what the mediator fills in, each with a
Chinese label), fixed wording where the format has some (the rights and duties of 人民调解法
arts. 23 and 24), and the signature lines printed under it. `make` fills a new paper from
the case (parties, facts, mediator, place, dates) and gives it its number for the year;
`edit` takes the mediator's changes; an agreement's terms are rows (`AgreementTerm`), which
the follow-up visit checks one by one (server/cases/workflow/effects.py) and whose signing
starts the 30-day window for judicial confirmation (server/follow_through/sweep.py).
A paper with its signed scan filed is no longer edited: what was signed stays as signed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy import select

from server.casefile import numbering
from server.cases import access, limits, workflow
from server.db import db
from server.infra import clock
from server.infra.errors import Forbidden, NotFound, StaleCase, ValidationFailed
from server.models import (
    AgreementTerm,
    Case,
    CaseDocument,
    DocumentKind,
    PartySide,
    Role,
    User,
)
from server.trust import audit

# The rights and duties the parties are told of (人民调解法 第二十三条、第二十四条).
RIGHTS = (
    "当事人在人民调解活动中享有下列权利：（一）选择或者接受人民调解员；（二）接受调解、"
    "拒绝调解或者要求终止调解；（三）要求调解公开进行或者不公开进行；（四）自主表达意愿、"
    "自愿达成调解协议。"
)
DUTIES = (
    "当事人在人民调解活动中履行下列义务：（一）如实陈述纠纷事实；（二）遵守调解现场秩序，"
    "尊重人民调解员；（三）尊重对方当事人行使权利。"
)
NO_FEE = "人民调解委员会调解民间纠纷，不收取任何费用。"
CONFIRMATION_PROMISE = (
    "申请人保证所提供的证明材料真实、合法，并保证调解协议不存在恶意串通、规避法律或者"
    "损害国家利益、社会公共利益、他人合法权益的情形；如有虚假，愿承担相应的法律责任。"
)
COPIES = (
    "本协议一式三份，自各方当事人签名、人民调解员签名并加盖人民调解委员会印章之日起生效，"
    "双方当事人和人民调解委员会各执一份。"
)


@dataclass(frozen=True)
class Field:
    """One blank of a template: `kind` is "line" (one line), "text" (several), "date"."""

    name: str
    label: str
    kind: str = "line"

    @property
    def most(self) -> int:
        return limits.TEXT if self.kind == "text" else 200


@dataclass(frozen=True)
class Template:
    kind: DocumentKind
    fields: tuple[Field, ...]
    signatures: tuple[str, ...]
    # Fixed wording printed after the fields (the format's own words).
    fixed: tuple[str, ...] = ()
    # A case may have several (one record per session, one per visit).
    repeatable: bool = False
    # Which field's date the paper is dated by, printed at its foot.
    dated_by: str | None = None

    @property
    def title(self) -> str:
        return self.kind.label


PARTIES = Field("applicants", "申请人"), Field("respondents", "被申请人")

TEMPLATES: dict[DocumentKind, Template] = {
    t.kind: t
    for t in (
        Template(
            DocumentKind.APPLICATION,
            (
                Field("manner", "申请方式"),
                *PARTIES,
                Field("request", "申请事项", "text"),
                Field("facts", "事实和理由", "text"),
                Field("recorder", "记录人（口头申请）"),
                Field("applied_on", "申请日期", "date"),
            ),
            ("申请人（签名或捺印）", "记录人（签名）"),
            dated_by="applied_on",
        ),
        Template(
            DocumentKind.RIGHTS_NOTICE,
            (
                Field("parties", "当事人"),
                Field("committee", "人民调解委员会"),
                Field("mediator", "人民调解员"),
                Field("notified_on", "告知日期", "date"),
            ),
            ("当事人（签名）", "当事人（签名）", "人民调解员（签名）"),
            fixed=(RIGHTS, DUTIES, NO_FEE, "以上内容已向当事人告知，当事人已知悉。"),
            dated_by="notified_on",
        ),
        Template(
            DocumentKind.SESSION_RECORD,
            (
                Field("session", "调解次数"),
                Field("held_at", "调解时间"),
                Field("place", "调解地点"),
                Field("mediator", "人民调解员"),
                Field("present", "到场人员"),
                Field("recorder", "记录人"),
                Field("record", "调解记录（各方陈述）", "text"),
                Field("outcome", "调解结果", "text"),
            ),
            ("当事人（签名）", "当事人（签名）", "人民调解员（签名）", "记录人（签名）"),
            repeatable=True,
        ),
        Template(
            DocumentKind.AGREEMENT,
            (
                *PARTIES,
                Field("facts", "纠纷主要事实、争议事项", "text"),
                Field("performance", "履行方式、时限", "text"),
                Field("mediator", "人民调解员"),
                Field("committee", "人民调解委员会"),
                Field("signed_on", "签订日期", "date"),
            ),
            ("申请人（签名）", "被申请人（签名）", "人民调解员（签名）", "人民调解委员会（盖章）"),
            fixed=(COPIES,),
            dated_by="signed_on",
        ),
        Template(
            DocumentKind.VISIT_RECORD,
            (
                Field("visited_on", "回访日期", "date"),
                Field("visitor", "回访人"),
                Field("visited", "被回访人"),
                Field("performance", "协议履行情况", "text"),
                Field("content", "回访情况", "text"),
            ),
            ("回访人（签名）", "被回访人（签名）"),
            repeatable=True,
            dated_by="visited_on",
        ),
        Template(
            DocumentKind.CONFIRMATION,
            (
                *PARTIES,
                Field("court", "受理法院"),
                Field("request", "请求事项", "text"),
                Field("facts", "事实和理由", "text"),
                Field("applied_on", "申请日期", "date"),
            ),
            ("申请人（签名）", "申请人（签名）"),
            fixed=(CONFIRMATION_PROMISE,),
            dated_by="applied_on",
        ),
    )
}


# --- filling a new paper from the case -----------------------------------------------------


def _names(case: Case, side: PartySide) -> str:
    return "、".join(p.name for p in case.parties if p.side == side)


def _committee(case: Case) -> str:
    return case.lead_department.name if case.lead_department else f"{case.village.name}调委会"


def _today() -> str:
    return clock.local(clock.now()).date().isoformat()


def _agreement(case: Case) -> CaseDocument | None:
    return db.session.scalar(
        select(CaseDocument)
        .where(CaseDocument.case_id == case.id, CaseDocument.kind == DocumentKind.AGREEMENT)
        .order_by(CaseDocument.id.desc())
        .limit(1)
    )


def fill(kind: DocumentKind, case: Case, actor: User) -> dict:
    """A new paper's fields, filled from what the case already says."""
    applicants = _names(case, PartySide.APPLICANT)
    respondents = _names(case, PartySide.RESPONDENT)
    parties = "、".join(p for p in (applicants, respondents) if p)
    place = case.place_text or case.village.name
    facts = case.description
    if kind == DocumentKind.APPLICATION:
        return {
            "manner": "书面申请",
            "applicants": applicants,
            "respondents": respondents,
            "request": "请求人民调解委员会调解双方纠纷。",
            "facts": facts,
            "applied_on": clock.local(case.created_at).date().isoformat(),
        }
    if kind == DocumentKind.RIGHTS_NOTICE:
        return {
            "parties": parties,
            "committee": _committee(case),
            "mediator": actor.display_name,
            "notified_on": _today(),
        }
    if kind == DocumentKind.SESSION_RECORD:
        done = sum(1 for d in documents_of(case) if d.kind == DocumentKind.SESSION_RECORD)
        return {
            "session": f"第{done + 1}次",
            "held_at": clock.local(clock.now()).strftime("%Y-%m-%d %H:%M"),
            "place": place,
            "mediator": actor.display_name,
            "present": parties,
            "record": "".join(f"{p.side.label}{p.name}称：\n" for p in case.parties),
            "outcome": "",
        }
    if kind == DocumentKind.AGREEMENT:
        return {
            "applicants": applicants,
            "respondents": respondents,
            "facts": facts,
            "performance": "按下列各项约定的方式和期限履行。",
            "mediator": actor.display_name,
            "committee": _committee(case),
            "signed_on": _today(),
        }
    if kind == DocumentKind.VISIT_RECORD:
        agreement = _agreement(case)
        lines = [
            f"{t.position}. {t.text}：{_kept_label(t.kept)}"
            for t in (agreement.terms if agreement else [])
        ]
        return {
            "visited_on": _today(),
            "visitor": actor.display_name,
            "visited": parties,
            "performance": "\n".join(lines),
            "content": case.result_text or "",
        }
    agreement = _agreement(case)
    signed = agreement.content.get("signed_on", "") if agreement else ""
    number = agreement.number if agreement else ""
    return {
        "applicants": applicants,
        "respondents": respondents,
        "court": "",
        "request": f"请求确认双方于{as_chinese_date(signed)}达成的人民调解协议（{number}）有效。",
        "facts": f"双方经{_committee(case)}主持调解，自愿达成调解协议。{facts}",
        "applied_on": _today(),
    }


def _kept_label(kept: bool | None) -> str:
    return {True: "已履行", False: "未履行", None: "未回访"}[kept]


def as_chinese_date(value: str | None) -> str:
    """2026-12-06 as 2026年12月6日 (anything else as written)."""
    try:
        day = date.fromisoformat(value or "")
    except ValueError:
        return value or "    年  月  日"
    return f"{day.year}年{day.month}月{day.day}日"


# --- who, and what ---------------------------------------------------------------------------


def can_keep_papers(user: User | None, case: Case) -> bool:
    """The center holding the case (the town's, or the district's once it is escalated:
    `access.holds`), and the handlers of a department holding it (its mediators, the
    legal advisor beside them), while it is not closed."""
    if user is None or not user.active or case.status in workflow.ENDED:
        return False
    if user.role == Role.CENTER:
        return access.holds(user, case)
    return user.role == Role.HANDLER and any(
        a.department_id == user.department_id for a in case.active_assignments
    )


def documents_of(case: Case) -> list[CaseDocument]:
    """The case's papers, in the order they were made."""
    return list(
        db.session.scalars(
            select(CaseDocument).where(CaseDocument.case_id == case.id).order_by(CaseDocument.id)
        )
    )


def document_for(case: Case, document_id: int, user: User) -> CaseDocument:
    """One paper of `case` for `user`, who may see the case; NotFound otherwise."""
    document = db.session.get(CaseDocument, document_id) if 0 < document_id < limits.ID else None
    if document is None or document.case_id != case.id or not access.can_view_case(user, case):
        raise NotFound("找不到该文书，或您无权查看。")
    return document


def _check_keeper(user: User, case: Case) -> None:
    if not can_keep_papers(user, case):
        raise Forbidden("您不能制作或修改此案件的调解文书。", code="papers_forbidden")


def make(
    case: Case, kind: DocumentKind | str, *, actor: User, ip: str | None = None
) -> CaseDocument:
    """A new paper of `kind` for `case`, filled from the case, with its number for the year."""
    _check_keeper(actor, case)
    try:
        kind = DocumentKind(kind)
    except ValueError:
        raise ValidationFailed("没有这种文书。", code="invalid_choice", field="kind") from None
    template = TEMPLATES[kind]
    now = clock.now()
    year = clock.local(now).year
    # The number first: taking it locks the year's counter of this kind until commit, so
    # two mediators making the same paper at once (a double tap) take turns, and the
    # second then sees the first's paper below and is refused (its number rolls back).
    serial = numbering.take(kind.value, year, case.town)
    if not template.repeatable and any(d.kind == kind for d in documents_of(case)):
        raise ValidationFailed(
            f"本案已有{template.title}，请修改原文书。", code="document_exists", field="kind"
        )
    document = CaseDocument(
        case_id=case.id,
        kind=kind,
        year=year,
        serial=serial,
        town_id=case.town_id,
        number=numbering.display(kind.value, year, serial, case.town),
        content=fill(kind, case, actor),
        created_by_id=actor.id,
        created_at=now,
    )
    db.session.add(document)
    db.session.flush()
    workflow.record_paperwork(
        case,
        "make_document",
        actor=actor,
        note=f"{template.title}（{document.number}）",
        data={"document": document.id, "kind": kind.value, "number": document.number},
    )
    audit.record(
        "document.made",
        actor=actor,
        object_type="case",
        object_id=case.code,
        ip=ip,
        number=document.number,
    )
    return document


@dataclass
class TermDraft:
    """One term of an agreement as the mediator writes it."""

    text: str
    performance: str = ""
    due_on: date | None = None


def edit(
    document: CaseDocument,
    content: dict,
    *,
    actor: User,
    terms: list[TermDraft] | None = None,
    expected_version: int | None = None,
    ip: str | None = None,
) -> CaseDocument:
    """The mediator's changes to a paper's fields (and an agreement's terms)."""
    case = document.case
    _check_keeper(actor, case)
    if expected_version is not None and expected_version != document.version:
        raise StaleCase("这份文书刚被其他人修改过，请刷新后再改。", code="stale_document")
    if document.scans:
        raise ValidationFailed(
            "签字文书已上传，不能再修改；如需更正请另行制作。", code="document_signed"
        )
    template = TEMPLATES[document.kind]
    known = {f.name: f for f in template.fields}
    unknown = set(content) - set(known)
    if unknown:
        raise ValidationFailed(
            f"{template.title}没有这些栏目：{'、'.join(sorted(unknown))}。",
            code="unknown_field",
            fields=sorted(unknown),
        )
    cleaned = dict(document.content or {})
    for name, value in content.items():
        spec = known[name]
        value = "" if value is None else value
        if not isinstance(value, str) or len(value.strip()) > spec.most:
            raise ValidationFailed(
                f"{spec.label}过长（最多{spec.most}字）。", code="too_long", field=name
            )
        value = value.strip()
        if spec.kind == "date" and value:
            try:
                day = date.fromisoformat(value)
            except ValueError:
                raise ValidationFailed(
                    f"{spec.label}须为日期（如2026-12-06）。", code="invalid_date", field=name
                ) from None
            # A slip of the thumb (0206 for 2026) would be filed, and a signing date in
            # year 1 could not be turned into a moment (the signed scan's filing failed).
            clock.check_year(day, name)
            value = day.isoformat()
        cleaned[name] = value
    document.content = cleaned
    if terms is not None:
        if document.kind != DocumentKind.AGREEMENT:
            raise ValidationFailed(
                "只有调解协议书有协议条款。", code="unknown_field", field="terms"
            )
        _set_terms(document, terms)
    document.updated_by_id, document.updated_at = actor.id, clock.now()
    db.session.flush()
    audit.record(
        "document.edited",
        actor=actor,
        object_type="case",
        object_id=case.code,
        ip=ip,
        number=document.number,
    )
    return document


def _set_terms(document: CaseDocument, drafts: list[TermDraft]) -> None:
    if len(drafts) > limits.TERMS:
        raise ValidationFailed(f"协议条款最多{limits.TERMS}项。", code="too_many", field="terms")
    if any(t.kept is not None for t in document.terms):
        raise ValidationFailed(
            "协议条款已回访核实，不能再修改。", code="terms_checked", field="terms"
        )
    rows = []
    for position, draft in enumerate((d for d in drafts if d.text.strip()), start=1):
        text = draft.text.strip()
        if len(text) > 500 or len(draft.performance or "") > 200:
            raise ValidationFailed("协议条款过长。", code="too_long", field="terms")
        if draft.due_on is not None:
            clock.check_year(draft.due_on, "terms")
        rows.append(
            AgreementTerm(
                position=position,
                text=text,
                performance=(draft.performance or "").strip() or None,
                due_on=draft.due_on,
            )
        )
    document.terms.clear()
    db.session.flush()  # the old positions go before the new ones take them
    document.terms.extend(rows)


def signed_moment(document: CaseDocument) -> datetime:
    """When an agreement was signed: its signing date (the town's midnight), else now."""
    try:
        day = date.fromisoformat(document.content.get("signed_on") or "")
    except ValueError:
        return clock.now()
    return datetime.combine(day, time(0), tzinfo=clock.town_tz())
