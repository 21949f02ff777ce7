"""Bodies of /reports and /cases. What a report or an action takes is checked by the core's
input schemas (server/cases/inputs.py), the same ones the admin's forms use; the
schemas here are the list's query and the answers."""

import marshmallow as ma
from marshmallow import validate

from miniprogram_api.media.schemas import PhotoSchema
from server.cases import limits
from server.cases.inputs import QueryId
from server.models import CaseStatus

Text = ma.fields.String


def _values(enum_cls):
    return validate.OneOf([m.value for m in enum_cls], error="取值无效。")


class CaseListQuerySchema(ma.Schema):
    status = Text(validate=_values(CaseStatus))
    category = Text(validate=validate.Length(min=1, max=limits.CATEGORY_CODE))
    village = QueryId()
    overdue = ma.fields.Boolean()
    awaiting_review = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "仅列出待调处中心审核的：申请退回、申请延期、群众不满意"},
    )
    limit = ma.fields.Integer(load_default=20, validate=validate.Range(1, 100))
    cursor = Text(
        validate=[validate.Length(min=1, max=200), validate.Regexp(r"^[A-Za-z0-9_-]+$")],
        metadata={"description": "上一页返回的 next_cursor"},
    )


class RefSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    name = Text(required=True)


class CategoryRefSchema(ma.Schema):
    code = Text(required=True)
    name = Text(required=True)
    group = Text(required=True)
    group_label = Text(required=True)


class CaseSummarySchema(ma.Schema):
    code = Text(required=True, metadata={"description": "案件编号（随机，不可猜测）"})
    status = Text(required=True)
    status_label = Text(required=True)
    category = ma.fields.Nested(CategoryRefSchema, required=True)
    village = ma.fields.Nested(RefSchema, required=True)
    town = ma.fields.Nested(RefSchema, required=True, metadata={"description": "案件所属的镇"})
    source = Text(required=True)
    risk_level = Text(required=True)
    severity = Text(required=True)
    urgent = ma.fields.Boolean(required=True)
    happening_now = ma.fields.Boolean(required=True)
    supervised = ma.fields.Boolean(required=True)
    escalated = ma.fields.Boolean(required=True, metadata={"description": "曾上报区级"})
    held_by_district = ma.fields.Boolean(
        required=True, metadata={"description": "区矛调中心正在办理（上报区级后、交回属地前）"}
    )
    step = Text(allow_none=True, required=True)
    due_at = ma.fields.AwareDateTime(allow_none=True, required=True)
    overdue = ma.fields.Boolean(required=True)
    created_at = ma.fields.AwareDateTime(required=True)
    summary = Text(required=True, metadata={"description": "描述的前 80 字"})
    place_text = Text(allow_none=True, required=True)
    reporter_consent = Text(
        allow_none=True,
        required=True,
        metadata={
            "description": "代村民上报时村民同意的方式："
            "anonymous 不留姓名，named 留名（仅中心可见）"
        },
    )


class CasePageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(CaseSummarySchema), required=True)
    next_cursor = Text(allow_none=True, required=True)


class AssignmentSchema(ma.Schema):
    department = ma.fields.Nested(RefSchema, required=True)
    role = Text(required=True)
    due_at = ma.fields.AwareDateTime(allow_none=True)
    signed_at = ma.fields.AwareDateTime(allow_none=True)
    feedback = Text(allow_none=True)


class EventSchema(ma.Schema):
    action = Text(required=True)
    label = Text(required=True)
    from_status = Text(allow_none=True, required=True)
    to_status = Text(required=True)
    at = ma.fields.AwareDateTime(required=True)
    actor = Text(allow_none=True, required=True)
    note = Text(allow_none=True, required=True)
    internal = ma.fields.Boolean(required=True)


class ChoiceSchema(ma.Schema):
    value = Text(required=True)
    label = Text(required=True)


class FieldFormSchema(ma.Schema):
    label = Text(required=True)
    kind = Text(
        required=True,
        metadata={
            "description": "text, choice, boolean, datetime, department, departments, user, "
            "category 或 case"
        },
    )


class AvailableActionSchema(ma.Schema):
    action = Text(required=True)
    label = Text(required=True)
    required = ma.fields.List(Text(), required=True)
    optional = ma.fields.List(Text(), required=True)
    fields = ma.fields.Dict(
        keys=Text(),
        values=ma.fields.Nested(FieldFormSchema),
        required=True,
        metadata={"description": "各字段的中文名称与类型"},
    )
    choices = ma.fields.Dict(
        keys=Text(),
        values=ma.fields.List(ma.fields.Nested(ChoiceSchema)),
        required=True,
        metadata={"description": "选择型字段的可选值及中文名称，如回访结果 outcome"},
    )


class ReporterOutSchema(ma.Schema):
    anonymous = ma.fields.Boolean(required=True)
    name = Text(allow_none=True)
    phone = Text(allow_none=True)
    wechat = Text(allow_none=True)


class PartyOutSchema(ma.Schema):
    name = Text(required=True)
    side = Text(required=True)
    kind = Text(required=True)


class RepeatSchema(ma.Schema):
    code = Text(required=True)
    status = Text(required=True)
    status_label = Text(required=True)
    created_at = ma.fields.AwareDateTime(required=True)
    shared_parties = ma.fields.List(Text(), required=True)


class MergedReportSchema(ma.Schema):
    code = Text(required=True)
    created_at = ma.fields.AwareDateTime(required=True)


class SkippedDepartmentSchema(ma.Schema):
    department = ma.fields.Nested(RefSchema, required=True)
    reason = Text(required=True)


class SuggestedDispatchSchema(ma.Schema):
    lead = ma.fields.Nested(RefSchema, allow_none=True, required=True)
    co = ma.fields.List(ma.fields.Nested(RefSchema), required=True)
    skipped = ma.fields.List(
        ma.fields.Nested(SkippedDepartmentSchema),
        required=True,
        metadata={"description": "因无在岗人员等原因未建议的部门"},
    )


class InstructionSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    text = Text(required=True)
    author = Text(required=True)
    at = ma.fields.AwareDateTime(required=True)
    carried_out_at = ma.fields.AwareDateTime(
        allow_none=True,
        required=True,
        metadata={"description": "调处中心标记落实的时间；未落实为空"},
    )
    carried_out_by = Text(allow_none=True, required=True)
    carried_out_note = Text(allow_none=True, required=True)


class CaseDetailSchema(CaseSummarySchema):
    version = ma.fields.Integer(required=True)
    description = Text(required=True)
    people_involved = ma.fields.Integer(required=True)
    group_dispute = ma.fields.Boolean(required=True)
    criminal_risk = ma.fields.Boolean(required=True)
    occurred_at = ma.fields.AwareDateTime(allow_none=True, required=True)
    latitude = ma.fields.Float(allow_none=True, required=True)
    longitude = ma.fields.Float(allow_none=True, required=True)
    grid = ma.fields.Nested(RefSchema, allow_none=True, required=True)
    parties = ma.fields.List(ma.fields.Nested(PartyOutSchema), required=True)
    lead_department = ma.fields.Nested(RefSchema, allow_none=True, required=True)
    assignments = ma.fields.List(ma.fields.Nested(AssignmentSchema), required=True)
    extension_requested_until = ma.fields.AwareDateTime(allow_none=True, required=True)
    return_requested_at = ma.fields.AwareDateTime(
        allow_none=True,
        required=True,
        metadata={"description": "部门申请退回、待调处中心审核的时间"},
    )
    complaint_at = ma.fields.AwareDateTime(
        allow_none=True,
        required=True,
        metadata={"description": "举报人表示不满意或反映问题未解决、待调处中心复核的时间"},
    )
    result_code = Text(allow_none=True, required=True)
    result_text = Text(allow_none=True, required=True)
    rejection_reason = Text(allow_none=True, required=True)
    closing_reason = Text(allow_none=True, required=True)
    photos = ma.fields.List(ma.fields.Nested(PhotoSchema), required=True)
    repeat_dispute = ma.fields.Boolean(
        required=True, metadata={"description": "重复纠纷：同一当事人在期限内已有纠纷"}
    )
    repeats = ma.fields.List(
        ma.fields.Nested(RepeatSchema),
        required=True,
        metadata={"description": "同一当事人此前的纠纷（任何状态）"},
    )
    merged_reports = ma.fields.List(
        ma.fields.Nested(MergedReportSchema),
        required=True,
        metadata={"description": "并入本案的重复报告"},
    )
    instructions = ma.fields.List(
        ma.fields.Nested(InstructionSchema),
        required=True,
        metadata={"description": "领导批示（批示），落实前一直显示"},
    )
    timeline = ma.fields.List(ma.fields.Nested(EventSchema), required=True)
    actions = ma.fields.List(ma.fields.Nested(AvailableActionSchema), required=True)
    suggested_dispatch = ma.fields.Nested(
        SuggestedDispatchSchema,
        metadata={"description": "调处中心派遣已受理案件时的建议（主办、协办、跳过的部门）"},
    )
    reporter = ma.fields.Nested(
        ReporterOutSchema,
        allow_none=True,
        metadata={"description": "举报人：仅调处中心可见，每次查看均审计"},
    )
