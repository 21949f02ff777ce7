"""/media: upload a photo, fetch one."""

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from miniprogram_api.api import current_user, login_required, require_body_type
from miniprogram_api.idempotent import OPTIONAL as IDEMPOTENCY_KEY
from miniprogram_api.idempotent import idempotent_if_keyed
from miniprogram_api.media.schemas import (
    MediaQuerySchema,
    NoFormFields,
    PhotoSchema,
    UploadSchema,
)
from server.cases import media
from server.infra.storage import storage

bp = Blueprint("media", __name__, url_prefix="/api/v1/media", description="照片")
bp.before_request(require_body_type("multipart/form-data"))


# The key is the path's parameter: an operation's own list would replace the file's.
@bp.route("", parameters=[IDEMPOTENCY_KEY])
class Upload(MethodView):
    decorators = [login_required]

    @bp.arguments(UploadSchema, location="files")
    @bp.arguments(NoFormFields, location="form")
    @idempotent_if_keyed
    @bp.response(201, PhotoSchema)
    @bp.alt_response(413, description="文件或像素过大")
    @bp.alt_response(415, description="不是 JPEG/PNG/WebP 图片")
    @bp.alt_response(422, description="图片损坏")
    def post(self, files, _form):
        """Upload one photo (multipart field `file`); attach it to a report by its id."""
        return media.store_photo(files["file"].read(), uploader=current_user())


@bp.route("/<string:public_id>")
class Photo(MethodView):
    decorators = [login_required]

    @bp.arguments(MediaQuerySchema, location="query")
    @bp.response(
        200, content_type="image/jpeg", description="JPEG 图片（已去除 EXIF、GPS 等元数据）"
    )
    @bp.alt_response(404, description="不存在或无权查看")
    def get(self, query, public_id):
        """A photo (or its thumbnail), to users who may see its case."""
        photo = media.photo_for(public_id, current_user())
        key = photo.thumbnail_key if query["size"] == "thumb" else photo.storage_key
        response = Response(storage().get(key), mimetype=photo.content_type)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "private, max-age=86400"
        response.headers["Content-Disposition"] = "inline"
        return response
