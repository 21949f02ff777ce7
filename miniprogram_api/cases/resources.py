"""/reports (file one) and /cases (list, read, act)."""

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint

from miniprogram_api.api import client_ip, current_user, login_required, require_body_type
from miniprogram_api.cases import present
from miniprogram_api.cases.schemas import (
    CaseDetailSchema,
    CaseListQuerySchema,
    CasePageSchema,
)
from miniprogram_api.idempotent import PARAMETER as IDEMPOTENCY_KEY
from miniprogram_api.idempotent import idempotent
from server.cases import access, inputs, lookup, media, operations, queries, workflow
from server.db import db
from server.infra.errors import Conflict, InvalidTransition, StaleCase, ValidationFailed

bp = Blueprint("cases", __name__, url_prefix="/api/v1", description="上报与案件")
bp.before_request(require_body_type("application/json"))

# Schemas as instances: given a class, webargs builds a new schema (and its nested ones)
# for every request. A schema holds no per-load state, so one serves every thread. The
# report's and the action's are the core's (server/cases/inputs.py), as the forms' are.
CASE_LIST_QUERY = CaseListQuerySchema()
CASE_DETAIL = CaseDetailSchema()


@bp.route("/reports")
class Reports(MethodView):
    decorators = [login_required]

    @bp.arguments(inputs.REPORT)
    @bp.doc(parameters=[IDEMPOTENCY_KEY])
    @idempotent
    @bp.response(201, CASE_DETAIL)
    @bp.alt_response(400, description="缺少或无效的 Idempotency-Key")
    @bp.alt_response(403, description="无权以此身份或为此村上报")
    @bp.alt_response(409, description="同一请求正在处理中")
    @bp.alt_response(422, description="内容有误，或 Idempotency-Key 已用于另一个请求")
    def post(self, draft):
        """File a report (a grid worker's, or the center's walk-in or hotline report)."""
        user = current_user()
        # A report resent after its stored answer was purged meets its own photos on its
        # case, or its own key on it, before anything is written: it is answered with that
        # case. Asked only when refused there, so a new report costs no query more.
        try:
            draft.photos = media.claimable_photos(draft.photos, owner=user)  # reads only
        except ValidationFailed:
            if (case := operations.filed_with_key(g.idempotency_key, user)) is None:
                raise
            return present.detail(case, user, ip=client_ip())
        try:
            case = operations.submit_report(draft, actor=user, idempotency_key=g.idempotency_key)
        except Conflict:  # the key met on a case as it was to be written: nothing written
            if (case := operations.filed_with_key(g.idempotency_key, user)) is None:
                raise
        return present.detail(case, user, ip=client_ip())


@bp.route("/cases")
class Cases(MethodView):
    decorators = [login_required]

    @bp.arguments(CASE_LIST_QUERY, location="query")
    @bp.response(200, CasePageSchema)
    def get(self, query):
        """Cases the user may see, newest first; `next_cursor` fetches the next page."""
        user = current_user()
        filters = queries.CaseFilters(
            status=query.get("status"),
            category=query.get("category"),
            village=query.get("village"),
            overdue=query.get("overdue"),
            awaiting_review=query["awaiting_review"],
        )
        page = queries.list_cases(user, filters, limit=query["limit"], cursor=query.get("cursor"))
        return {
            "items": [present.summary(c, user) for c in page.items],
            "next_cursor": page.next_cursor,
        }


@bp.route("/cases/<string:code>")
class CaseDetail(MethodView):
    decorators = [login_required]

    @bp.response(200, CaseDetailSchema)
    @bp.alt_response(404, description="不存在或无权查看")
    def get(self, code):
        """One case: details, photos, timeline and the actions the user may take now."""
        user = current_user()
        case = lookup.get_case_for(code, user)
        body = present.detail(case, user, ip=client_ip())
        access.record_view(case, viewer=user, ip=client_ip(), surface="api")  # audited
        return body


@bp.route("/cases/<string:code>/actions")
class CaseActions(MethodView):
    decorators = [login_required]

    @bp.arguments(inputs.ACTION)
    @bp.doc(parameters=[IDEMPOTENCY_KEY])
    @idempotent
    @bp.response(200, CaseDetailSchema)
    @bp.alt_response(400, description="缺少或无效的 Idempotency-Key")
    @bp.alt_response(403, description="无权执行此操作")
    @bp.alt_response(404, description="不存在或无权查看")
    @bp.alt_response(409, description="状态不允许、案件已被他人更新（附当前状态）或请求处理中")
    @bp.alt_response(422, description="内容有误")
    def post(self, data, code):
        """Take an action on a case through the workflow (sign for, resolve, ...)."""
        user = current_user()
        case = lookup.get_case_for(code, user)
        action, version = data.pop("action"), data.pop("version")
        photos = data.pop("photos", [])
        workflow.check_photos(action, photos)
        if "into" in data:
            data["into"] = lookup.get_case_for(data["into"], user)
        try:
            event = workflow.apply(
                case,
                action,
                actor=user,
                expected_version=version,
                idempotency_key=g.idempotency_key,
                **data,
            )
        except (StaleCase, InvalidTransition):
            # Resent after its stored answer was purged: the version moved on with the
            # action itself. Done already: the case as it is now.
            if workflow.applied_with_key(case, g.idempotency_key, user) is None:
                raise
            return present.detail(case, user, ip=client_ip())
        media.claim_photos(photos, owner=user, case=case, event=event)
        db.session.flush()
        db.session.refresh(case)
        return present.detail(case, user, ip=client_ip())
