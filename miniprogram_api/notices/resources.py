"""/wechat/consents: the templates the user just accepted in wx.requestSubscribeMessage."""

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from miniprogram_api.api import current_user, login_required, require_body_type
from miniprogram_api.idempotent import OPTIONAL as IDEMPOTENCY_KEY
from miniprogram_api.idempotent import idempotent_if_keyed
from server.db import db
from server.models import WeChatConsent

bp = Blueprint("notices", __name__, url_prefix="/api/v1/wechat", description="订阅消息")
bp.before_request(require_body_type("application/json"))


class ConsentSchema(ma.Schema):
    template_ids = ma.fields.List(
        ma.fields.String(validate=ma.validate.Length(min=1, max=64)),
        required=True,
        validate=ma.validate.Length(min=1, max=10),
        metadata={"description": "用户在 wx.requestSubscribeMessage 中选择“允许”的模板"},
    )


class CreditsSchema(ma.Schema):
    credits = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), required=True)


# A resend of one acceptance (its answer lost) with its key adds no second credit: WeChat
# would refuse the message the extra credit promised (43101).
@bp.route("/consents", parameters=[IDEMPOTENCY_KEY])
class Consents(MethodView):
    decorators = [login_required]

    @bp.arguments(ConsentSchema)
    @idempotent_if_keyed
    @bp.response(200, CreditsSchema)
    def post(self, data):
        """Each accept allows one message of that template: add one credit each."""
        user = current_user()
        credits = {}
        for template_id in dict.fromkeys(data["template_ids"]):
            row = db.session.get(WeChatConsent, (user.id, template_id)) or WeChatConsent(
                user_id=user.id, template_id=template_id, credits=0
            )
            row.credits = min(row.credits + 1, 100)
            db.session.add(row)
            credits[template_id] = row.credits
        return {"credits": credits}
