"""/todo: what the signed-in person has to do now (the workbench's home, 我的待办)."""

import marshmallow as ma
from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from miniprogram_api.api import current_user, login_required
from miniprogram_api.cases import present
from miniprogram_api.cases.schemas import CaseSummarySchema, RefSchema
from miniprogram_api.inbox.resources import MessageSchema, present_message
from server.follow_through import inbox, todo
from server.infra import codes

bp = Blueprint("todo", __name__, url_prefix="/api/v1/todo", description="我的待办")


class TodoItemSchema(ma.Schema):
    case = ma.fields.Nested(CaseSummarySchema, required=True)
    display_code = ma.fields.String(required=True, metadata={"description": "分段显示的编号"})
    actions = ma.fields.List(
        ma.fields.String(), required=True, metadata={"description": "现在可做的操作"}
    )
    due = ma.fields.String(
        required=True,
        metadata={
            "description": "当前环节的期限：overdue 已超期（红），soon 24 小时内到期（黄），ok"
        },
    )


class VillageWeekSchema(ma.Schema):
    village = ma.fields.Nested(RefSchema, required=True)
    done = ma.fields.Integer(required=True, metadata={"description": "本周已提交的排查次数"})
    required = ma.fields.Integer(required=True, metadata={"description": "每周应排查次数"})
    nil_returns = ma.fields.Integer(required=True, metadata={"description": "其中零报告"})
    complete = ma.fields.Boolean(required=True)


class TodoSchema(ma.Schema):
    to_sign = ma.fields.List(
        ma.fields.Nested(TodoItemSchema), required=True, metadata={"description": "待签收"}
    )
    in_hand = ma.fields.List(
        ma.fields.Nested(TodoItemSchema),
        required=True,
        metadata={"description": "办理中（含即将到期、已超期）"},
    )
    visits = ma.fields.List(
        ma.fields.Nested(TodoItemSchema), required=True, metadata={"description": "待回访"}
    )
    screening = ma.fields.List(
        ma.fields.Nested(VillageWeekSchema),
        required=True,
        metadata={"description": "本周排查（网格员）"},
    )
    week_start = ma.fields.AwareDateTime(allow_none=True, required=True)
    unread = ma.fields.Integer(required=True, metadata={"description": "未读消息数"})
    truncated = ma.fields.Boolean(
        required=True, metadata={"description": "案件过多，列表只列出最急的 200 件"}
    )
    messages = ma.fields.List(
        ma.fields.Nested(MessageSchema),
        required=True,
        metadata={"description": "最新的未读消息（至多 5 条）"},
    )


def _item(item: todo.Item, user) -> dict:
    return {
        "case": present.summary(item.case, user),
        "actions": item.actions,
        "due": item.due,
        "display_code": codes.display(item.case.code),
    }


@bp.route("")
class Todo(MethodView):
    decorators = [login_required]

    @bp.response(200, TodoSchema)
    def get(self):
        """What needs the signed-in person now: cases to sign for, in hand (due soon or
        late first), follow-up visits due, this week's screening, unread messages."""
        user = current_user()
        found = todo.for_user(
            user, required_per_week=int(current_app.config["SCREENINGS_PER_WEEK"])
        )
        cases = inbox.cases_of(user, found.messages)
        return {
            "to_sign": [_item(i, user) for i in found.to_sign],
            "in_hand": [_item(i, user) for i in found.in_hand],
            "visits": [_item(i, user) for i in found.visits],
            "screening": [
                {
                    "village": {"id": w.village.id, "name": w.village.name},
                    "done": w.done,
                    "required": w.required,
                    "nil_returns": w.nil_returns,
                    "complete": w.complete,
                }
                for w in found.screening
            ],
            "week_start": found.week_start,
            "unread": found.unread,
            "truncated": found.truncated,
            "messages": [present_message(n, cases) for n in found.messages],
        }
