"""/screenings: file a village's screening (findings become cases), list recent ones."""

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import validate
from sqlalchemy import select

from miniprogram_api.api import current_user, login_required, require_body_type
from miniprogram_api.idempotent import PARAMETER as IDEMPOTENCY_KEY
from miniprogram_api.idempotent import idempotent
from server.cases import access, inputs, limits
from server.cases.inputs import Id, QueryId
from server.db import db
from server.follow_through import screening
from server.infra.errors import NotFound
from server.models import Case, Screening, Village

bp = Blueprint("screenings", __name__, url_prefix="/api/v1/screenings", description="排查")
bp.before_request(require_body_type("application/json"))


class ScreeningCreateSchema(ma.Schema):
    village = Id(required=True)
    screened_at = ma.fields.AwareDateTime(allow_none=True)
    checked = ma.fields.List(
        ma.fields.String(validate=validate.Length(min=1, max=limits.CATEGORY_CODE)),
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "已排查的类别代码（清单）"},
    )
    findings = ma.fields.List(
        ma.fields.Nested(inputs.FindingInput),
        load_default=list,
        validate=validate.Length(max=50),
        metadata={"description": "发现的问题；为空即零报告"},
    )
    note = ma.fields.String(validate=validate.Length(max=limits.NOTE), allow_none=True)


class ScreeningSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    village = ma.fields.Dict(required=True, metadata={"description": "{id, name}"})
    screened_at = ma.fields.AwareDateTime(required=True)
    nil_return = ma.fields.Boolean(required=True)
    checked = ma.fields.List(ma.fields.String(), required=True)
    case_codes = ma.fields.List(ma.fields.String(), required=True)


class ScreeningQuerySchema(ma.Schema):
    village = QueryId()


def _present(item: Screening, user) -> dict:
    cases = db.session.scalars(select(Case).where(Case.screening_id == item.id)).all()
    return {
        "id": item.id,
        "village": {"id": item.village.id, "name": item.village.name},
        "screened_at": item.screened_at,
        "nil_return": item.nil_return,
        "checked": item.checked,
        "case_codes": [c.code for c in cases if access.can_view_case(user, c)],
    }


@bp.route("")
class Screenings(MethodView):
    decorators = [login_required]

    @bp.arguments(ScreeningCreateSchema)
    @idempotent
    @bp.doc(parameters=[IDEMPOTENCY_KEY])
    @bp.response(201, ScreeningSchema)
    @bp.alt_response(403, description="不是本人负责的村")
    @bp.alt_response(404, description="村不存在")
    @bp.alt_response(409, description="同一请求正在处理中")
    @bp.alt_response(422, description="内容有误")
    def post(self, data):
        """File a screening; each finding becomes a case linked to it (none: a nil return)."""
        user = current_user()
        village = db.session.get(Village, data["village"])
        if village is None:
            raise NotFound("村不存在。")
        item = screening.filed_with_key(g.idempotency_key, user) or screening.file_screening(
            actor=user,
            village=village,
            checked=data["checked"],
            findings=data["findings"],
            screened_at=data.get("screened_at"),
            note=data.get("note"),
            idempotency_key=g.idempotency_key,
        )
        db.session.flush()
        return _present(item, user), 201

    @bp.arguments(ScreeningQuerySchema, location="query")
    @bp.response(200, ScreeningSchema(many=True))
    def get(self, query):
        """The user's villages' latest screenings (50)."""
        user = current_user()
        statement = (
            select(Screening)
            .where(screening.seen_by(user))
            .order_by(Screening.screened_at.desc())
            .limit(50)
        )
        if query.get("village"):
            statement = statement.where(Screening.village_id == query["village"])
        return [_present(s, user) for s in db.session.scalars(statement)]
