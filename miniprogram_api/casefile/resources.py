"""/cases/{code}/documents (list, make, edit, file the signed scan) and the case file PDF."""

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from miniprogram_api.api import client_ip, current_user, login_required, require_body_type
from miniprogram_api.casefile.schemas import (
    DocumentListSchema,
    DocumentSchema,
    EditDocumentSchema,
    MakeDocumentSchema,
    ScanSchema,
    UploadScanSchema,
)
from miniprogram_api.idempotent import OPTIONAL as OPTIONAL_KEY
from miniprogram_api.idempotent import PARAMETER as IDEMPOTENCY_KEY
from miniprogram_api.idempotent import idempotent, idempotent_if_keyed
from miniprogram_api.media.schemas import NoFormFields
from server.casefile import documents, pdf, scans
from server.cases import lookup
from server.infra.storage import storage

bp = Blueprint("casefile", __name__, url_prefix="/api/v1", description="调解文书与案卷")
bp.before_request(require_body_type("application/json"))
scans_bp = Blueprint("casefile_scans", __name__, url_prefix="/api/v1", description="调解文书与案卷")
scans_bp.before_request(require_body_type("multipart/form-data"))


def present(paper, user) -> dict:
    """A paper as the phone sees it."""
    template = documents.TEMPLATES[paper.kind]
    return {
        "id": paper.id,
        "kind": paper.kind.value,
        "title": template.title,
        "number": paper.number,
        "version": paper.version,
        "content": {k: str(v) for k, v in (paper.content or {}).items()},
        "fields": [{"name": f.name, "label": f.label, "kind": f.kind} for f in template.fields],
        "signatures": list(template.signatures),
        "terms": paper.terms,
        "scans": paper.scans,
        "signed_at": paper.signed_at,
        "editable": documents.can_keep_papers(user, paper.case) and not paper.scans,
    }


@bp.route("/cases/<string:code>/documents")
class Documents(MethodView):
    decorators = [login_required]

    @bp.response(200, DocumentListSchema)
    @bp.alt_response(404, description="不存在或无权查看")
    def get(self, code):
        """The case's mediation papers, and the kinds the user may make now."""
        user = current_user()
        case = lookup.get_case_for(code, user)
        papers = documents.documents_of(case)
        made = {p.kind for p in papers}
        kinds = (
            [
                {"kind": t.kind.value, "title": t.title}
                for t in documents.TEMPLATES.values()
                if t.repeatable or t.kind not in made
            ]
            if documents.can_keep_papers(user, case)
            else []
        )
        return {"items": [present(p, user) for p in papers], "kinds": kinds}

    @bp.arguments(MakeDocumentSchema)
    @bp.doc(parameters=[IDEMPOTENCY_KEY])
    @idempotent
    @bp.response(201, DocumentSchema)
    @bp.alt_response(403, description="不能制作此案件的文书")
    @bp.alt_response(404, description="不存在或无权查看")
    @bp.alt_response(422, description="内容有误，或此种文书已有")
    def post(self, data, code):
        """Make a paper from its template, filled from the case, numbered for the year."""
        user = current_user()
        case = lookup.get_case_for(code, user)
        return present(documents.make(case, data["kind"], actor=user, ip=client_ip()), user)


@bp.route("/cases/<string:code>/documents/<int:document_id>")
class Document(MethodView):
    decorators = [login_required]

    @bp.arguments(EditDocumentSchema)
    @bp.response(200, DocumentSchema)
    @bp.alt_response(403, description="不能修改此案件的文书")
    @bp.alt_response(404, description="不存在或无权查看")
    @bp.alt_response(409, description="文书已被他人修改")
    @bp.alt_response(422, description="内容有误，或已签字上传不能再改")
    def patch(self, data, code, document_id):
        """Change a paper's fields (and an agreement's terms, all at once)."""
        user = current_user()
        case = lookup.get_case_for(code, user)
        paper = documents.document_for(case, document_id, user)
        terms = data.get("terms")
        documents.edit(
            paper,
            data["content"],
            actor=user,
            terms=None if terms is None else [documents.TermDraft(**t) for t in terms],
            expected_version=data["version"],
            ip=client_ip(),
        )
        return present(paper, user)


# The key is the path's parameter: an operation's own list would replace the file's.
@scans_bp.route("/cases/<string:code>/documents/<int:document_id>/scans", parameters=[OPTIONAL_KEY])
class Scans(MethodView):
    decorators = [login_required]

    @scans_bp.arguments(UploadScanSchema, location="files")
    @scans_bp.arguments(NoFormFields, location="form")
    @idempotent_if_keyed
    @scans_bp.response(201, ScanSchema)
    @scans_bp.alt_response(403, description="不能为此案件上传")
    @scans_bp.alt_response(404, description="不存在或无权查看")
    @scans_bp.alt_response(413, description="文件过大")
    @scans_bp.alt_response(415, description="不是照片或 PDF")
    def post(self, files, _form, code, document_id):
        """File the signed paper's scan (multipart field `file`: a photo or a PDF)."""
        user = current_user()
        case = lookup.get_case_for(code, user)
        paper = documents.document_for(case, document_id, user)
        prepared = scans.prepare(files["file"].read())
        return scans.attach(paper, prepared, actor=user, ip=client_ip())


@scans_bp.route("/scans/<string:public_id>")
class Scan(MethodView):
    decorators = [login_required]

    @scans_bp.response(200, content_type="application/pdf", description="签字文书（PDF 或 JPEG）")
    @scans_bp.alt_response(404, description="不存在或无权查看")
    def get(self, public_id):
        """A signed scan, to users who may see its case."""
        item = scans.scan_for(public_id, current_user())
        response = Response(storage().get(item.storage_key), mimetype=item.content_type)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "private, no-store"
        return response


@bp.route("/cases/<string:code>/case-file.pdf")
class CaseFile(MethodView):
    decorators = [login_required]

    @bp.response(200, content_type="application/pdf", description="案卷 PDF")
    @bp.alt_response(404, description="不存在或无权查看")
    @bp.alt_response(503, description="服务器缺少中文字体")
    def get(self, code):
        """The whole case file as one PDF (every download is audited)."""
        user = current_user()
        case = lookup.get_case_for(code, user)
        response = Response(
            pdf.build(case, viewer=user, ip=client_ip()), mimetype="application/pdf"
        )
        response.headers["Cache-Control"] = "private, no-store"
        response.headers["Content-Disposition"] = "inline"
        return response
