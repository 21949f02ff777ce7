"""/qr/<token>: which village a scanned poster belongs to (for the mini program)."""

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from miniprogram_api.api import require_body_type
from server.organisation import qr

bp = Blueprint("qr", __name__, url_prefix="/api/v1/qr", description="村二维码")
bp.before_request(require_body_type("application/json"))


class ScannedVillageSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    code = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    url = ma.fields.String(required=True, metadata={"description": "二维码上的网址"})


@bp.route("/<string:token>")
class ScannedVillage(MethodView):
    @bp.doc(security=[])
    @bp.response(200, ScannedVillageSchema)
    @bp.alt_response(404, description="无效的二维码")
    @bp.alt_response(410, description="二维码已更换")
    def get(self, token):
        """The village of a scanned poster. WeChat passes the poster's URL to the mini
        program as `q` (URL-encoded); its last path segment is the token."""
        village = qr.resolve(token)
        return {
            "id": village.id,
            "code": village.code,
            "name": village.name,
            "url": qr.village_url(village),
        }
