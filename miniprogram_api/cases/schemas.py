"""Bodies of /reports and /cases. Input schemas refuse unknown fields (marshmallow's RAISE)."""

import marshmallow as ma
from marshmallow import validate

from miniprogram_api.media.schemas import PhotoSchema
from server.cases.workflow import ACTIONS, SATISFACTION, VISIT_OUTCOMES
from server.models import (
    CaseStatus,
    ClosingReason,
    PartyKind,
    PartySide,
    ResultCode,
    RiskLevel,
    Severity,
)

MAX_PHOTOS = 9


def _values(enum_cls):
    return validate.OneOf([m.value for m in enum_cls])


Text = ma.fields.String


def Id(**kwargs):  # noqa: N802 - reads as a field type
    """A database id: a positive integer that fits every database's INTEGER."""
    return ma.fields.Integer(strict=True, validate=validate.Range(1, 2**31 - 1), **kwargs)


def QueryId(**kwargs):  # noqa: N802 - reads as a field type
    """A database id in a query string, where every value arrives as text (?village=3)."""
    return ma.fields.Integer(strict=False, validate=validate.Range(1, 2**31 - 1), **kwargs)


class ReporterSchema(ma.Schema):
    anonymous = ma.fields.Boolean(load_default=True)
    name = Text(validate=validate.Length(max=64), allow_none=True)
    phone = Text(validate=validate.Length(max=32), allow_none=True)
    wechat = Text(validate=validate.Length(max=64), allow_none=True)
    on_behalf = ma.fields.Boolean(
        load_default=False,
        metadata={
            "description": "网格员代村民上报：村民已同意（anonymous 为真即不留姓名，否则留下的姓名"
            "与联系方式仅调处中心可见）"
        },
    )


class PartySchema(ma.Schema):
    name = Text(required=True, validate=validate.Length(min=1, max=64))
    side = Text(load_default=PartySide.APPLICANT.value, validate=_values(PartySide))
    kind = Text(load_default=PartyKind.PERSON.value, validate=_values(PartyKind))
    phone = Text(validate=validate.Length(max=32), allow_none=True)


class ReportCreateSchema(ma.Schema):
    category = Text(
        required=True,
        validate=validate.Length(min=1, max=16),
        metadata={"description": "类别代码，如 D02、S04"},
    )
    village = Id(required=True)
    grid = Id(allow_none=True)
    description = Text(required=True, validate=validate.Length(min=1, max=2000))
    place_text = Text(validate=validate.Length(max=200), allow_none=True)
    latitude = ma.fields.Float(validate=validate.Range(-90, 90), allow_none=True, allow_nan=False)
    longitude = ma.fields.Float(
        validate=validate.Range(-180, 180), allow_none=True, allow_nan=False
    )
    occurred_at = ma.fields.AwareDateTime(allow_none=True)
    people_involved = ma.fields.Integer(
        load_default=1, strict=True, validate=validate.Range(1, 100000)
    )
    group_dispute = ma.fields.Boolean(load_default=False)
    criminal_risk = ma.fields.Boolean(load_default=False)
    happening_now = ma.fields.Boolean(
        load_default=False,
        metadata={
            "description": "正在发生（起火、冒烟、打架…）：任何类别都按紧急处理，30分钟内受理派遣"
        },
    )
    severity = Text(validate=_values(Severity), allow_none=True)
    risk_level = Text(validate=_values(RiskLevel), allow_none=True)
    source = Text(
        load_default="grid_worker",
        validate=validate.OneOf(["grid_worker", "screening", "walk_in", "hotline"]),
    )
    reporter = ma.fields.Nested(ReporterSchema, load_default=dict)
    parties = ma.fields.List(
        ma.fields.Nested(PartySchema), load_default=list, validate=validate.Length(max=20)
    )
    photos = ma.fields.List(
        Text(validate=validate.Length(min=1, max=32)),
        load_default=list,
        validate=validate.Length(max=MAX_PHOTOS),
        metadata={"description": "先上传到 /media 得到的图片 id"},
    )


class ActionSchema(ma.Schema):
    action = Text(required=True, validate=validate.OneOf(sorted(ACTIONS)))
    version = ma.fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(1, 2**31 - 1),
        metadata={"description": "看到的案件版本；已被他人更新则返回 409"},
    )
    note = Text(validate=validate.Length(min=1, max=2000))
    reason = Text(validate=validate.Length(min=1, max=2000))
    text = Text(validate=validate.Length(min=1, max=2000))
    lead_department = Id()
    co_departments = ma.fields.List(Id(), validate=validate.Length(max=10))
    handler = Id()
    due_at = ma.fields.AwareDateTime()
    until = ma.fields.AwareDateTime()
    parties_consent = ma.fields.Boolean()
    result_code = Text(validate=_values(ResultCode))
    result_text = Text(validate=validate.Length(min=1, max=2000))
    closing_reason = Text(validate=_values(ClosingReason))
    category = Text(validate=validate.Length(min=1, max=16))
    risk_level = Text(validate=_values(RiskLevel))
    criminal_risk = ma.fields.Boolean(metadata={"description": "民转刑风险"})
    severity = Text(validate=_values(Severity))
    satisfaction = Text(validate=validate.OneOf(sorted(SATISFACTION)))
    outcome = Text(
        validate=validate.OneOf(sorted(VISIT_OUTCOMES)),
        metadata={
            "description": "回访结果：gone 问题已消除、back_again 问题再次出现、kept 协议已履行、"
            "broken 协议未履行（后两项仅限矛盾纠纷）"
        },
    )
    into = Text(validate=validate.Length(min=1, max=20))
    photos = ma.fields.List(
        Text(validate=validate.Length(min=1, max=32)), validate=validate.Length(max=MAX_PHOTOS)
    )


class CaseListQuerySchema(ma.Schema):
    status = Text(validate=_values(CaseStatus))
    category = Text(validate=validate.Length(min=1, max=16))
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
    source = Text(required=True)
    risk_level = Text(required=True)
    severity = Text(required=True)
    urgent = ma.fields.Boolean(required=True)
    happening_now = ma.fields.Boolean(required=True)
    supervised = ma.fields.Boolean(required=True)
    escalated = ma.fields.Boolean(required=True)
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
