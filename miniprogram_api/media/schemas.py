"""Bodies of /media."""

import marshmallow as ma
from flask import url_for
from flask_smorest.fields import Upload


class UploadSchema(ma.Schema):
    file = Upload(required=True, metadata={"description": "一张 JPEG、PNG 或 WebP 照片"})


class NoFormFields(ma.Schema):
    """The upload takes no form fields besides the file: anything else is refused."""


class MediaQuerySchema(ma.Schema):
    size = ma.fields.String(load_default="full", validate=ma.validate.OneOf(["full", "thumb"]))


class PhotoSchema(ma.Schema):
    id = ma.fields.String(attribute="public_id", required=True)
    url = ma.fields.Function(
        lambda p: url_for("media.Photo", public_id=p.public_id, _external=False), required=True
    )
    thumbnail_url = ma.fields.Function(
        lambda p: url_for("media.Photo", public_id=p.public_id, size="thumb"), required=True
    )
    width = ma.fields.Integer(required=True)
    height = ma.fields.Integer(required=True)
    content_type = ma.fields.String(required=True)
