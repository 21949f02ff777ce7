"""A case's mediation papers (调解文书) and its case file (案卷): make one from its template,
edit it, print it on A4, file its signed scan, and download the whole file as a PDF."""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

from flask import Response, g, render_template, request

from admin.blueprint import bp, client_ip, done, refused, require
from server.casefile import archive, documents, pdf, scans
from server.cases import lookup
from server.infra import clock, codes
from server.infra.errors import DomainError, ValidationFailed
from server.infra.storage import storage
from server.models import Role

ROLES = (Role.CENTER, Role.LEADER, Role.HANDLER)
# Blank rows offered under an agreement's terms for new ones.
SPARE_TERMS = 3


def _paper(code: str, document_id: int):
    case = lookup.get_case_for(code, g.user)
    return case, documents.document_for(case, document_id, g.user)


@bp.post("/cases/<code>/documents")
@require(Role.CENTER, Role.HANDLER)
def make_document(code: str):
    """Make a paper of the kind asked for, filled from the case."""
    case = lookup.get_case_for(code, g.user)
    try:
        paper = documents.make(case, request.form.get("kind", ""), actor=g.user, ip=client_ip())
    except DomainError as error:
        return refused(error, "admin.case_page", code=case.code)
    return done(
        f"已制作{paper.kind.label}（{paper.number}）。",
        "admin.document_page",
        code=case.code,
        document_id=paper.id,
    )


@bp.get("/cases/<code>/documents/<int:document_id>")
@require(*ROLES)
def document_page(code: str, document_id: int):
    """One paper: its fields to edit (for those who keep the case's papers), its scans."""
    case, paper = _paper(code, document_id)
    return render_template(
        "admin/document.html",
        case=case,
        paper=paper,
        template=documents.TEMPLATES[paper.kind],
        editable=documents.can_keep_papers(g.user, case) and not paper.scans,
        may_upload=documents.can_keep_papers(g.user, case),
        spare=range(len(paper.terms) + 1, len(paper.terms) + 1 + SPARE_TERMS),
        display=codes.display,
    )


def _terms_from_form() -> list[documents.TermDraft]:
    drafts = []
    columns = [request.form.getlist(f"term_{n}") for n in ("text", "performance", "due_on")]
    if len({len(column) for column in columns}) != 1:
        # The page sends each term's three fields: a cut-off or hand-made form does not.
        raise ValidationFailed(
            "协议条款的内容、履行方式和期限不成套，请刷新页面后重新填写。",
            code="invalid_terms",
            field="terms",
        )
    for index, (text, performance, due) in enumerate(zip(*columns, strict=True), 1):
        due = due.strip()
        try:
            due_on = date.fromisoformat(due) if due else None
        except ValueError:
            raise ValidationFailed(
                f"第{index}项的履行期限须为日期。", code="invalid_date", field="terms"
            ) from None
        drafts.append(documents.TermDraft(text, performance, due_on))
    return drafts


@bp.post("/cases/<code>/documents/<int:document_id>")
@require(Role.CENTER, Role.HANDLER)
def edit_document(code: str, document_id: int):
    """Save the mediator's changes."""
    case, paper = _paper(code, document_id)
    names = [f.name for f in documents.TEMPLATES[paper.kind].fields]
    try:
        version = int(request.form.get("version", "0") or 0)
        terms = _terms_from_form() if "term_text" in request.form else None
        documents.edit(
            paper,
            {n: request.form.get(n, "") for n in names if n in request.form},
            actor=g.user,
            terms=terms,
            expected_version=version,
            ip=client_ip(),
        )
    except (DomainError, ValueError) as error:
        if isinstance(error, ValueError):
            error = ValidationFailed("版本号无效。", code="invalid_field")
        return refused(error, "admin.document_page", code=case.code, document_id=paper.id)
    return done("文书已保存。", "admin.document_page", code=case.code, document_id=paper.id)


@bp.get("/cases/<code>/documents/<int:document_id>/print")
@require(*ROLES)
def print_document(code: str, document_id: int):
    """The paper on A4 with its signature lines, to print and sign."""
    case, paper = _paper(code, document_id)
    return render_template(
        "admin/document_print.html",
        case=case,
        paper=paper,
        template=documents.TEMPLATES[paper.kind],
        chinese_date=documents.as_chinese_date,
    )


@bp.post("/cases/<code>/documents/<int:document_id>/scans")
@require(Role.CENTER, Role.HANDLER)
def upload_scan(code: str, document_id: int):
    """File the signed paper's scan (a photo or a PDF)."""
    case, paper = _paper(code, document_id)
    upload = request.files.get("file")
    try:
        prepared = scans.prepare(upload.read() if upload else b"")  # before any write
        scans.attach(paper, prepared, actor=g.user, ip=client_ip())
    except DomainError as error:
        return refused(error, "admin.document_page", code=case.code, document_id=paper.id)
    return done("签字文书已上传。", "admin.document_page", code=case.code, document_id=paper.id)


@bp.get("/scans/<public_id>")
@require(*ROLES)
def scan(public_id: str):
    """A signed scan, for those who may see its case."""
    item = scans.scan_for(public_id, g.user)
    return Response(
        storage().get(item.storage_key),
        mimetype=item.content_type,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"},
    )


@bp.get("/cases/<code>/case-file.pdf")
@require(*ROLES)
def case_file_pdf(code: str):
    """The whole case file as one PDF (the download is audited)."""
    case = lookup.get_case_for(code, g.user)
    data = pdf.build(case, viewer=g.user, ip=client_ip())
    entry = archive.archive_of(case)
    name = f"案卷_{case.code}.pdf" if entry is None else f"案卷_{entry.year}_{entry.serial}.pdf"
    return Response(
        data,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f"inline; filename*=UTF-8''{_quote(name)}",
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _quote(name: str) -> str:
    return quote(name)


def papers_context(case) -> dict:
    """What the case page shows of the papers: them, the kinds that may be made, the archive."""
    kinds = [
        t
        for t in documents.TEMPLATES.values()
        if t.repeatable or t.kind not in {d.kind for d in documents.documents_of(case)}
    ]
    papers = documents.documents_of(case)
    return {
        "papers": papers,
        "agreement_terms": [t for d in papers if d.kind.value == "agreement" for t in d.terms],
        "paper_kinds": kinds,
        "keeps_papers": documents.can_keep_papers(g.user, case),
        "archive_entry": archive.archive_of(case),
        "now": clock.now(),
    }
