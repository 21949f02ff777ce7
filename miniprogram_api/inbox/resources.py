"""/inbox: the signed-in person's messages (reminders, dispatches, chases) and reading them."""

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import validate

from miniprogram_api.api import current_user, login_required, require_body_type
from server.cases.inputs import Id, QueryId
from server.follow_through import inbox
from server.infra import codes

bp = Blueprint("inbox", __name__, url_prefix="/api/v1/inbox", description="消息")
bp.before_request(require_body_type("application/json"))


class MessageSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    body = ma.fields.String(required=True)
    created_at = ma.fields.AwareDateTime(required=True)
    read = ma.fields.Boolean(required=True)
    case_code = ma.fields.String(
        allow_none=True, required=True, metadata={"description": "相关案件（仍可查看时）"}
    )
    case_display_code = ma.fields.String(allow_none=True, required=True)


class InboxQuerySchema(ma.Schema):
    before = QueryId(metadata={"description": "只要比此 id 更早的消息（翻页）"})
    limit = ma.fields.Integer(load_default=30, validate=validate.Range(1, 100))


class InboxSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(MessageSchema), required=True)
    unread = ma.fields.Integer(required=True)


class ReadSchema(ma.Schema):
    ids = ma.fields.List(
        Id(),
        validate=validate.Length(max=200),
        allow_none=True,
        metadata={"description": "要标为已读的消息；不填则全部"},
    )


class MarkedSchema(ma.Schema):
    marked = ma.fields.Integer(required=True)
    unread = ma.fields.Integer(required=True)


def present_message(note, cases: dict) -> dict:
    case = cases.get(note.case_id) if note.case_id else None
    return {
        "id": note.id,
        "kind": note.kind,
        "title": note.title,
        "body": note.body,
        "created_at": note.created_at,
        "read": note.read_at is not None,
        "case_code": case.code if case else None,
        "case_display_code": codes.display(case.code) if case else None,
    }


@bp.route("")
class Inbox(MethodView):
    decorators = [login_required]

    @bp.arguments(InboxQuerySchema, location="query")
    @bp.response(200, InboxSchema)
    def get(self, query):
        """The user's messages, newest first."""
        user = current_user()
        notes = inbox.latest(user, limit=query["limit"], before=query.get("before"))
        cases = inbox.cases_of(user, notes)
        return {
            "items": [present_message(n, cases) for n in notes],
            "unread": inbox.unread_count(user),
        }


@bp.route("/read")
class Read(MethodView):
    decorators = [login_required]

    @bp.arguments(ReadSchema)
    @bp.response(200, MarkedSchema)
    def post(self, data):
        """Mark messages read (the given ones, or all)."""
        user = current_user()
        marked = inbox.mark_read(user, data.get("ids"))
        return {"marked": marked, "unread": inbox.unread_count(user)}
