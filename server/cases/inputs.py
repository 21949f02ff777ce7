"""What people send about cases, checked the same way from every surface.

One marshmallow schema per kind of input: a report (`ReportInput`, which loads into the
`ReportDraft` the core files; `FindingInput`, a screening's finding; `VillagerReportInput`,
the QR page's form) and an action on a case (`ActionInput`, its fields drawn from the
workflow's kinds and choices). The API loads JSON through them; the admin's and the
villagers' forms map their fields onto them (`from_form`) and load them the same way
(`load`). Every bound comes from `server.cases.limits`, every choice from the models and
the workflow, and every message is Chinese.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo

import marshmallow as ma
from marshmallow import validate
from werkzeug.datastructures import MultiDict

from server.cases import limits
from server.cases.operations import Party, ReportDraft, Reporter
from server.cases.workflow import ACTIONS
from server.cases.workflow.fields import FIELD_CHOICES, FIELD_KINDS, FIELD_LABELS
from server.infra.errors import ValidationFailed
from server.models import (
    PartyKind,
    PartySide,
    RiskLevel,
    Severity,
    Source,
)

# marshmallow's own messages (types, unknown fields), as people read them.
FIELD_MESSAGES = {
    "Missing data for required field.": "必填。",
    "Unknown field.": "不允许的字段。",
    "Field may not be null.": "不能为空。",
    "Not a valid integer.": "须为整数。",
    "Not a valid string.": "须为文本。",
    "Not a valid boolean.": "须为是或否。",
    "Not a valid number.": "须为数字。",
    "Not a valid datetime.": "须为时间（ISO 8601）。",
    "Not a valid aware datetime.": "须为带时区的时间。",
    "Not a valid UUID.": "须为 UUID。",
    "Not a valid list.": "须为列表。",
    "Invalid input type.": "类型不正确。",
    "Invalid JSON body.": "请求体不是有效的 JSON。",
    "Invalid type.": "类型不正确。",
    "Invalid value.": "取值无效。",
    "Invalid input.": "取值无效。",
    "Not a valid mapping type.": "须为对象。",
    "Not a valid date.": "须为日期（YYYY-MM-DD）。",
    "String does not match expected pattern.": "格式不正确。",
    "Special numeric values (nan or infinity) are not permitted.": "须为有限的数字。",
}
# marshmallow's validators' messages, which carry their bounds: each as a pattern.
FIELD_PATTERNS = [
    (re.compile(p), words)
    for p, words in (
        (
            r"^Must be greater than or equal to (\S+) and less than or equal to (\S+)\.$",
            r"须在\1至\2之间。",
        ),
        (r"^Must be greater than or equal to (\S+)\.$", r"不能小于\1。"),
        (r"^Must be less than or equal to (\S+)\.$", r"不能大于\1。"),
        (r"^Must be greater than (\S+)\.$", r"须大于\1。"),
        (r"^Must be less than (\S+)\.$", r"须小于\1。"),
        (r"^Length must be between (\d+) and (\d+)\.$", r"长度须在\1至\2之间。"),
        (r"^Length must be (\d+)\.$", r"长度须为\1。"),
        (r"^Shorter than minimum length (\d+)\.$", r"长度不能少于\1。"),
        (r"^Longer than maximum length (\d+)\.$", r"长度不能超过\1。"),
        (r"^Must be one of: (.*)\.$", r"须为以下之一：\1。"),
        (r"^One or more of the choices you made was not in: (.*)\.$", r"须为以下之一：\1。"),
    )
]


def translate(messages):
    """marshmallow's messages (nested dicts and lists of them) in Chinese."""
    if isinstance(messages, dict):
        return {str(k): translate(v) for k, v in messages.items()}
    if isinstance(messages, list):
        return [translate(m) for m in messages]
    if isinstance(messages, str):
        if messages in FIELD_MESSAGES:
            return FIELD_MESSAGES[messages]
        for pattern, words in FIELD_PATTERNS:
            if pattern.match(messages):
                return pattern.sub(words, messages)
    return messages


# --- fields ------------------------------------------------------------------------------


def Text(*, most: int, least: int = 0, **kwargs) -> ma.fields.String:  # noqa: N802 - a field type
    """A text of at most `most` characters (and, with `least`, not empty)."""
    error = f"不能为空，且最多{most}字。" if least else f"最多{most}字。"
    return ma.fields.String(validate=validate.Length(min=least, max=most, error=error), **kwargs)


def Id(**kwargs) -> ma.fields.Integer:  # noqa: N802 - reads as a field type
    """A database id: a positive integer that fits every database's INTEGER."""
    return ma.fields.Integer(
        strict=True, validate=validate.Range(1, limits.ID, error="须为有效的编号。"), **kwargs
    )


def QueryId(**kwargs) -> ma.fields.Integer:  # noqa: N802 - reads as a field type
    """A database id in a query string, where every value arrives as text (?village=3)."""
    return ma.fields.Integer(
        strict=False, validate=validate.Range(1, limits.ID, error="须为有效的编号。"), **kwargs
    )


def Choice(values, **kwargs) -> ma.fields.String:  # noqa: N802 - reads as a field type
    """One of `values` (an enum's values, or a mapping's keys)."""
    values = [getattr(v, "value", v) for v in values]
    return ma.fields.String(validate=validate.OneOf(values, error="取值无效。"), **kwargs)


def _people(**kwargs) -> ma.fields.Integer:
    return ma.fields.Integer(
        strict=True,
        validate=validate.Range(1, limits.PEOPLE, error=f"须为1至{limits.PEOPLE}的整数。"),
        **kwargs,
    )


def _photos(**kwargs) -> ma.fields.List:
    return ma.fields.List(
        Text(least=1, most=32),
        validate=validate.Length(max=limits.PHOTOS, error=f"最多{limits.PHOTOS}张。"),
        **kwargs,
    )


# --- a report ----------------------------------------------------------------------------


class ReporterInput(ma.Schema):
    """Who reports: anonymous unless they leave a name or a way to reach them."""

    anonymous = ma.fields.Boolean(load_default=True)
    name = Text(most=limits.NAME, allow_none=True)
    phone = Text(most=limits.PHONE, allow_none=True)
    wechat = Text(most=limits.WECHAT, allow_none=True)
    on_behalf = ma.fields.Boolean(
        load_default=False,
        metadata={
            "description": "网格员代村民上报：村民已同意（anonymous 为真即不留姓名，否则留下的姓名"
            "与联系方式仅调处中心可见）"
        },
    )

    @ma.post_load
    def _make(self, data, **_kwargs) -> Reporter:
        return Reporter(**data)


class PartyInput(ma.Schema):
    """A party to a dispute (申请人 / 被申请人)."""

    name = Text(least=1, most=limits.NAME, required=True)
    side = Choice(PartySide, load_default=PartySide.APPLICANT.value)
    kind = Choice(PartyKind, load_default=PartyKind.PERSON.value)
    phone = Text(most=limits.PHONE, allow_none=True)

    @ma.post_load
    def _make(self, data, **_kwargs) -> Party:
        return Party(**data)


class ReportInput(ma.Schema):
    """A report, as a grid worker or the center files it; loads into a `ReportDraft`
    (`photos` holds the ids of photos uploaded first, for the surface to claim)."""

    category = Text(
        least=1,
        most=limits.CATEGORY_CODE,
        required=True,
        metadata={"description": "类别代码，如 D02、S04"},
    )
    village = Id(required=True)
    grid = Id(allow_none=True)
    description = Text(least=1, most=limits.TEXT, required=True)
    place_text = Text(most=limits.PLACE, allow_none=True)
    latitude = ma.fields.Float(
        validate=validate.Range(-90, 90, error="超出范围。"), allow_none=True, allow_nan=False
    )
    longitude = ma.fields.Float(
        validate=validate.Range(-180, 180, error="超出范围。"),
        allow_none=True,
        allow_nan=False,
    )
    occurred_at = ma.fields.AwareDateTime(allow_none=True)
    people_involved = _people(load_default=1)
    group_dispute = ma.fields.Boolean(load_default=False)
    criminal_risk = ma.fields.Boolean(load_default=False)
    happening_now = ma.fields.Boolean(
        load_default=False,
        metadata={
            "description": "正在发生（起火、冒烟、打架…）：任何类别都按紧急处理，30分钟内受理派遣"
        },
    )
    severity = Choice(Severity, allow_none=True)
    risk_level = Choice(RiskLevel, allow_none=True)
    source = Choice(
        [Source.GRID_WORKER, Source.SCREENING, Source.WALK_IN, Source.HOTLINE],
        load_default=Source.GRID_WORKER.value,
    )
    reporter = ma.fields.Nested(ReporterInput, load_default=Reporter)
    parties = ma.fields.List(
        ma.fields.Nested(PartyInput),
        load_default=list,
        validate=validate.Length(max=limits.PARTIES, error=f"最多{limits.PARTIES}位。"),
    )
    photos = _photos(load_default=list, metadata={"description": "先上传到 /media 得到的图片 id"})

    @ma.post_load
    def _make(self, data, **_kwargs) -> ReportDraft:
        return ReportDraft(**data)


class FindingInput(ReportInput):
    """A screening's finding: a report whose village and source are the screening's."""

    class Meta:
        exclude = (
            "village",
            "grid",
            "source",
            "reporter",
            "photos",
            "latitude",
            "longitude",
            "occurred_at",
            "happening_now",
            "severity",
            "risk_level",
        )


class VillagerReportInput(ReportInput):
    """The QR page's form: what a villager may say (the village is the QR code's)."""

    class Meta:
        fields = ("category", "description", "place_text", "happening_now", "reporter")

    @ma.post_load
    def _make(self, data, **_kwargs) -> ReportDraft:
        return ReportDraft(source=Source.QR.value, **data)


REPORT = ReportInput()
VILLAGER_REPORT = VillagerReportInput()


# --- an action ---------------------------------------------------------------------------

_BY_KIND = {
    "text": lambda name: Text(least=1, most=limits.TEXT),
    "choice": lambda name: Choice(FIELD_CHOICES[name]),
    "boolean": lambda name: ma.fields.Boolean(),
    "datetime": lambda name: ma.fields.AwareDateTime(),
    "department": lambda name: Id(),
    "departments": lambda name: ma.fields.List(
        Id(), validate=validate.Length(max=limits.CO_DEPARTMENTS, error="最多{max}个。")
    ),
    "user": lambda name: Id(),
    "category": lambda name: Text(least=1, most=limits.CATEGORY_CODE),
    "case": lambda name: Text(least=1, most=limits.CASE_CODE),
    "instruction": lambda name: Id(),
    "terms": lambda name: ma.fields.Dict(
        keys=ma.fields.String(validate=validate.Regexp(r"^[0-9]{1,10}$", error="须为条款编号。")),
        values=ma.fields.Boolean(),
        validate=validate.Length(max=limits.TERMS, error="最多{max}项。"),
    ),
}
_DESCRIPTIONS = {
    "terms": "调解协议各条款的履行情况：条款编号 -> 是否已履行（回访时逐项填写）",
    "criminal_risk": "民转刑风险",
    "outcome": "回访结果：gone 问题已消除、back_again 问题再次出现、kept 协议已履行、"
    "broken 协议未履行（后两项仅限矛盾纠纷）",
}


def _action_field(name: str, kind: str) -> ma.fields.Field:
    field = _BY_KIND[kind](name)
    field.metadata = {"description": _DESCRIPTIONS.get(name, FIELD_LABELS.get(name, name))}
    return field


ActionInput = ma.Schema.from_dict(
    {
        "action": Choice(sorted(ACTIONS), required=True),
        "version": ma.fields.Integer(
            required=True,
            strict=True,
            validate=validate.Range(1, limits.ID, error="须为有效的版本号。"),
            metadata={"description": "看到的案件版本；已被他人更新则返回 409"},
        ),
        **{name: _action_field(name, kind) for name, kind in FIELD_KINDS.items()},
        "photos": _photos(),
    },
    name="ActionInput",
)
ActionInput.__doc__ = "An action on a case: its name, the version seen, and its fields."
ACTION = ActionInput()  # a schema holds no state of a load: one serves every request


# --- forms -------------------------------------------------------------------------------


def from_form(schema: ma.Schema, form: MultiDict, names, *, tz: tzinfo) -> dict:
    """What an HTML form sent for `names`, in the types `schema` loads: a checkbox is
    yes or no, a list is every value given, a `datetime-local` is on the town's clock,
    a number is a number; an empty text is left out (as if not given)."""
    data = {}
    for name in names:
        field = schema.fields.get(name)
        if field is None:
            continue
        if isinstance(field, ma.fields.List):
            values = [v.strip() for v in form.getlist(name) if v.strip()]
            if values:
                inner = field.inner
                data[name] = [_typed(inner, v, tz) for v in values]
            continue
        if isinstance(field, ma.fields.Boolean):
            data[name] = form.get(name) == "yes"
            continue
        raw = (form.get(name) or "").strip()
        if raw:
            data[name] = _typed(field, raw, tz)
    return data


def _typed(field: ma.fields.Field, raw: str, tz: tzinfo):
    if isinstance(field, ma.fields.Integer):
        # ASCII digits only ("²".isdigit() is true, and int("²") fails); the field's
        # own bounds refuse a number too large.
        return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 12 else raw
    if isinstance(field, ma.fields.DateTime):
        try:  # <input type=datetime-local> gives the town's wall-clock time
            return datetime.fromisoformat(raw).replace(tzinfo=tz).isoformat()
        except ValueError:
            return raw
    return raw


# What each field is called where a refusal names it (an action's fields: the workflow's).
LABELS = {
    **FIELD_LABELS,
    "category": "类别",
    "village": "村",
    "grid": "网格",
    "description": "情况描述",
    "place_text": "地点",
    "latitude": "纬度",
    "longitude": "经度",
    "occurred_at": "发生时间",
    "people_involved": "涉及人数",
    "group_dispute": "群体性纠纷",
    "criminal_risk": "民转刑风险",
    "happening_now": "正在发生",
    "source": "来源",
    "reporter": "举报人",
    "anonymous": "匿名",
    "name": "姓名",
    "phone": "电话",
    "wechat": "微信号",
    "on_behalf": "代村民上报",
    "parties": "当事人",
    "side": "当事人身份",
    "kind": "当事人类型",
    "photos": "照片",
    "action": "操作",
    "version": "案件版本",
}


def load(schema: ma.Schema, data: dict):
    """`data` loaded through `schema`; ValidationFailed, in Chinese and naming the first
    field refused ("地点最多200字。"), when it does not pass."""
    try:
        return schema.load(data)
    except ma.ValidationError as error:
        errors = translate(error.normalized_messages())
        path, message = _first(errors)
        label = LABELS.get(path[-1], path[-1]) if path else ""
        said = f"请填写{label}。" if message == "必填。" else f"{label}{message}"
        raise ValidationFailed(
            said, code="invalid_field", field=".".join(path), errors=errors
        ) from None


def _first(messages, path=()) -> tuple[tuple[str, ...], str]:
    """The first refusal in marshmallow's nested messages: (field path, message)."""
    if isinstance(messages, dict):
        key, value = next(iter(messages.items()))
        # A list's index ("parties": {0: {"name": ...}}) names no field.
        return _first(value, path if str(key).isdigit() else (*path, str(key)))
    if isinstance(messages, list):
        return _first(messages[0], path)
    return path, str(messages)
