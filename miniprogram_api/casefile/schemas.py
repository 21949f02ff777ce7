"""Bodies of /cases/{code}/documents: what a paper takes and how it is answered."""

import marshmallow as ma
from flask import url_for
from flask_smorest.fields import Upload
from marshmallow import validate

from server.cases import limits
from server.models import DocumentKind

Text = ma.fields.String


class MakeDocumentSchema(ma.Schema):
    kind = Text(
        required=True,
        validate=validate.OneOf([k.value for k in DocumentKind], error="没有这种文书。"),
        metadata={
            "description": "文书种类：" + "、".join(f"{k.value} {k.label}" for k in DocumentKind)
        },
    )


class TermInputSchema(ma.Schema):
    text = Text(required=True, validate=validate.Length(min=1, max=500, error="须为1至500字。"))
    performance = Text(load_default="", validate=validate.Length(max=200, error="最多200字。"))
    due_on = ma.fields.Date(load_default=None, allow_none=True)


class EditDocumentSchema(ma.Schema):
    version = ma.fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(1, limits.ID, error="须为有效的版本号。"),
        metadata={"description": "看到的文书版本；已被他人修改则返回 409"},
    )
    content = ma.fields.Dict(
        keys=Text(validate=validate.Length(min=1, max=32)),
        values=Text(validate=validate.Length(max=limits.TEXT)),
        load_default=dict,
        validate=validate.Length(max=20, error="栏目过多。"),
        metadata={"description": "要修改的栏目：栏目名 -> 内容（见 fields）"},
    )
    terms = ma.fields.List(
        ma.fields.Nested(TermInputSchema),
        validate=validate.Length(max=limits.TERMS, error="最多{max}项。"),
        metadata={"description": "调解协议书的全部条款（仅协议书；给出则整体替换）"},
    )


class FieldSchema(ma.Schema):
    name = Text(required=True)
    label = Text(required=True)
    kind = Text(required=True, metadata={"description": "line 单行、text 多行、date 日期"})


class TermSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    position = ma.fields.Integer(required=True)
    text = Text(required=True)
    performance = Text(allow_none=True)
    due_on = ma.fields.Date(allow_none=True)
    kept = ma.fields.Boolean(allow_none=True, metadata={"description": "回访核实：是否已履行"})


class ScanSchema(ma.Schema):
    id = Text(attribute="public_id", required=True)
    content_type = Text(required=True)
    created_at = ma.fields.AwareDateTime(required=True)
    url = ma.fields.Function(
        lambda s: url_for("casefile_scans.Scan", public_id=s.public_id), required=True
    )


class DocumentSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    kind = Text(required=True)
    title = Text(required=True)
    number = Text(required=True, metadata={"description": "文号，如〔2026〕大调字第15号"})
    version = ma.fields.Integer(required=True)
    content = ma.fields.Dict(keys=Text(), values=Text(), required=True)
    fields = ma.fields.List(ma.fields.Nested(FieldSchema), required=True)
    signatures = ma.fields.List(Text(), required=True)
    terms = ma.fields.List(ma.fields.Nested(TermSchema), required=True)
    scans = ma.fields.List(ma.fields.Nested(ScanSchema), required=True)
    signed_at = ma.fields.AwareDateTime(allow_none=True)
    editable = ma.fields.Boolean(required=True)


class KindSchema(ma.Schema):
    kind = Text(required=True)
    title = Text(required=True)


class DocumentListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(DocumentSchema), required=True)
    kinds = ma.fields.List(
        ma.fields.Nested(KindSchema),
        required=True,
        metadata={"description": "您现在可以制作的文书种类"},
    )


class UploadScanSchema(ma.Schema):
    file = Upload(required=True, metadata={"description": "签字文书的照片（JPEG/PNG/WebP）或 PDF"})
