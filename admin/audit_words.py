"""The audit log in words: a Chinese label for every action the code base records, and a
row's object and details as the auditor reads them (账号 zhangsan（张三）, not user 17).

The codes stay what the log stores and hashes; these words are only how the auditor's
page shows them, kept here once, beside that page (they read every part of the system,
so they sit above all of them, not in server/trust/). tests/test_audit_words.py reads
every `audit.record(...)` call in the sources and fails when an action, an object type or
a detail has no words here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select

from server.db import db
from server.infra import codes
from server.models import (
    AuditEntry,
    Category,
    Department,
    DepartmentKind,
    Grid,
    Role,
    Step,
    User,
    Village,
)
from server.organisation.deadlines import parse_duration
from server.trust.approvals import LABELS as APPROVAL_LABELS

# Every action recorded, by group (the auditor's filter offers them so).
GROUPS: dict[str, tuple[str, dict[str, str]]] = {
    "auth.": (
        "登录与退出",
        {
            "auth.login": "登录",
            "auth.login_failed": "登录失败",
            "auth.slowed": "多次输错密码，放慢重试",
            "auth.login_refused_role": "拒绝登录（该角色不能用后台）",
            "auth.logout": "退出登录",
            "auth.login_wechat": "微信登录（小程序）",
            "auth.login_wechat_web": "微信登录（公众号网页）",
            "auth.bind_wechat": "绑定微信（小程序）",
            "auth.bind_wechat_web": "绑定微信（公众号网页）",
        },
    ),
    "user.": (
        "账号",
        {
            "user.create": "新建账号",
            "user.update": "修改账号",
            "user.enable": "启用账号",
            "user.disable": "停用账号",
            "user.reset_password": "重置他人密码",
            "user.password_changed": "修改本人密码",
        },
    ),
    "approval.": (
        "审批",
        {
            "approval.asked": "提请审批",
            "approval.approved": "批准",
            "approval.refused": "拒绝审批",
            "approval.withdrawn": "撤回待审批事项（账号已改角色或调往其他镇）",
        },
    ),
    "case.": (
        "案件",
        {
            "case.viewed": "查看案件",
            "case.view_informant": "查看举报人身份",
            "case.search_identity": "按电话、姓名或微信号查找案件",
        },
    ),
    "document.": (
        "调解文书",
        {
            "document.made": "按模板制作调解文书",
            "document.edited": "修改调解文书",
            "document.scan_filed": "上传签字文书",
        },
    ),
    "casefile.": ("案卷", {"casefile.downloaded": "下载案卷"}),
    "identity.": ("举报人身份", {"identity.purged": "清除到期的举报人身份"}),
    "village.": ("村", {"village.save": "保存村", "village.rotate_qr": "更换村二维码"}),
    "grid.": ("网格", {"grid.save": "保存网格"}),
    "town.": (
        "镇与表格导入",
        {
            "town.save": "保存镇名称与热线",
            "town.import": "从表格导入镇村设置或账号",
            "town.import_refused": "表格有错，未导入",
        },
    ),
    "department.": ("部门", {"department.save": "保存部门"}),
    "category.": (
        "类别",
        {
            "category.save": "保存类别（时限、分拨）",
            "category.follow_district": "恢复沿用区里的时限和分拨",
        },
    ),
    "calendar.": (
        "工作日历",
        {
            "calendar.confirm_year": "按国务院通知确认全年节假日",
            "calendar.set": "更正某一天是否上班",
        },
    ),
    "ledger.": ("台账", {"ledger.exported": "导出台账"}),
    "report.": ("统计报告", {"report.exported": "导出统计报告"}),
    "notification.": ("消息发送", {"notification.resend": "重新发送投递失败的消息"}),
    "league.": (
        "考核",
        {
            "league.exported": "导出考核排名",
            "league.standards_changed": "修改考核标准",
            "league.follow_district": "恢复沿用区里的考核标准",
        },
    ),
}
ACTIONS: dict[str, str] = {
    code: label for _g, (_n, items) in GROUPS.items() for code, label in items.items()
}

OBJECTS: dict[str, str] = {
    "case": "案件",
    "user": "账号",
    "village": "村",
    "grid": "网格",
    "department": "部门",
    "category": "类别",
    "calendar_year": "年度",
    "calendar_day": "日期",
    "ledger": "台账",
    "report": "统计报告",
    "notification": "消息",
    "league": "考核排名",
    "league_standard": "考核标准",
}

DETAILS: dict[str, str] = {
    "username": "用户名",
    "display_name": "姓名",
    "hotline": "热线电话",
    "document_prefix": "文号简称",
    "role": "角色",
    "role_asked": "申请的角色（待审批）",
    "village": "村",
    "department": "部门",
    "grids": "网格",
    "name": "名称",
    "kind": "事项",
    "villages": "负责的村",
    "town_wide": "服务全镇",
    "urgent": "紧急",
    "confidential": "保密",
    "emergency": "先提示报警",
    "active": "在用",
    "limits": "时限",
    "routing": "分拨",
    "for_town": "适用于",
    "town": "所属镇",
    "off": "放假",
    "work": "调休上班",
    "workday": "这一天",
    "count": "件数",
    "retention_days": "保存期限",
    "approval": "审批编号",
    "asked_by": "提出人",
    "surface": "在哪里",
    "first": "起",
    "last": "止",
    "rows": "行数",
    "via": "途径",
    "period": "期间",
    "created": "新建",
    "changed": "修改",
    "standards": "考核标准的改动",
    "faults": "错误",
    # What the search branch records with case.search_identity (its label comes with it).
    "by": "按",
    "found": "找到的案件",
    "messages": "消息编号",
    "number": "文号",
    "archive_number": "卷号",
}

SURFACES = {
    "admin": "后台",
    "admin_print": "后台打印案卷",
    "api": "手机（小程序或工作台）",
    "cli": "服务器命令行",
    "web": "后台下载",
}
LEDGERS = {
    "disputes": "矛盾纠纷排查调处台账",
    "hazards": "隐患排查台账",
    "cases": "案件办理明细",
    "screenings": "排查记录",
}


def action_label(code: str) -> str:
    """The action in words (a code no longer recorded shows as it was stored)."""
    return ACTIONS.get(code, code)


@dataclass
class Names:
    """The names behind the ids a page of entries mentions, read once for the page."""

    users: dict[str, User] = field(default_factory=dict)  # by id, as text
    departments: dict[int, str] = field(default_factory=dict)
    grids: dict[int | str, str] = field(default_factory=dict)  # by id and by code
    villages: dict[str, str] = field(default_factory=dict)  # by id (text) and by code
    categories: dict[str, str] = field(default_factory=dict)  # by code

    def user(self, key) -> str:
        found = self.users.get(str(key))
        return f"{found.username}（{found.display_name}）" if found else f"编号{key}"


def names_for(entries: Iterable[AuditEntry]) -> Names:
    """The names of every user, department, grid, village and category in `entries`."""
    entries = list(entries)
    user_ids, department_ids, grid_ids, village_keys = set(), set(), set(), set()
    village_codes = {str(e.object_id) for e in entries if e.object_type == "village"}
    grid_codes = {str(e.object_id) for e in entries if e.object_type == "grid"}
    for entry in entries:
        detail = entry.detail or {}
        if entry.object_type == "user" and str(entry.object_id or "").isdigit():
            user_ids.add(int(entry.object_id))
        if isinstance(detail.get("asked_by"), int):
            user_ids.add(detail["asked_by"])
        if entry.object_type == "department" and str(entry.object_id or "").isdigit():
            department_ids.add(int(entry.object_id))
        if isinstance(detail.get("department"), int):
            department_ids.add(detail["department"])
        grid_ids.update(g for g in detail.get("grids") or [] if isinstance(g, int))
        if isinstance(detail.get("village"), str):
            village_codes.add(detail["village"])
        village_keys.update(v for v in detail.get("villages") or [] if isinstance(v, int))
    names = Names()
    if user_ids:
        names.users = {
            str(u.id): u for u in db.session.scalars(select(User).where(User.id.in_(user_ids)))
        }
    if department_ids:
        names.departments = dict(
            db.session.execute(
                select(Department.id, Department.name).where(Department.id.in_(department_ids))
            ).all()
        )
    if grid_ids or grid_codes:
        for grid_id, code, name in db.session.execute(
            select(Grid.id, Grid.code, Grid.name).where(
                Grid.id.in_(grid_ids) | Grid.code.in_(grid_codes)
            )
        ):
            names.grids[grid_id] = names.grids[code] = name
    if village_keys or village_codes:
        for village_id, code, name in db.session.execute(
            select(Village.id, Village.code, Village.name).where(
                Village.id.in_(village_keys) | Village.code.in_(village_codes)
            )
        ):
            names.villages[str(village_id)] = names.villages[code] = name
    if any(e.object_type == "category" for e in entries):
        names.categories = dict(db.session.execute(select(Category.code, Category.name)).all())
    return names


def object_words(entry: AuditEntry, names: Names) -> str:
    """What the entry is about, in words: 案件 3J9X-7AP7-VHNH, 账号 zhangsan（张三）, …"""
    kind, key = entry.object_type, entry.object_id
    if kind is None:
        return ""
    noun = OBJECTS.get(kind, kind)
    if key is None:
        return noun
    if kind == "case" and len(key) == 12:
        # A case code: the grouped form everyone reads; the raw code is stored.
        return f"{noun} {codes.display(key)}"
    if kind == "user":
        return f"{noun} {names.user(key)}"
    if kind == "department" and key.isdigit():
        return f"{noun} {names.departments.get(int(key), '编号' + key)}"
    if kind == "village":
        return f"{noun} {names.villages.get(key, key)}"
    if kind == "grid":
        return f"{noun} {names.grids.get(key, key)}"
    if kind == "category":
        name = names.categories.get(key)
        return f"{noun} {name}（{key}）" if name else f"{noun} {key}"
    if kind == "ledger":
        return f"{noun} {LEDGERS.get(key, key)}"
    if kind == "notification":
        return f"{noun} 第{key}号"
    if kind == "calendar_year":
        return f"{key}年"
    if kind == "league_standard":  # the whole table at once (object_id "all")
        return noun
    return f"{noun} {key}"


def _yes(value) -> str:
    return "是" if value else "否"


def _duration(text: str) -> str:
    """A stored limit in words (2wd: 2个工作日); as stored if it does not parse."""
    try:
        return parse_duration(text).label
    except ValueError:
        return text


def _limits(value) -> str:
    """{'accept': ['1wd', '2wd'], …} as 受理：1个工作日提醒，2个工作日到期；…"""
    parts = []
    for step, pair in (value or {}).items():
        warn, due = [*pair, None, None][:2]
        words = [f"{_duration(warn)}提醒"] if warn else []
        if due:
            words.append(f"{_duration(due)}到期")
        label = Step(step).label if step in {s.value for s in Step} else step
        parts.append(f"{label}：{'，'.join(words) or '—'}")
    return "；".join(parts)


def _role(value) -> str:
    return Role(value).label if value in {r.value for r in Role} else str(value)


def _counts(value) -> str:
    """{'村': 3, '网格': 5} as 村 3、网格 5."""
    if not isinstance(value, dict):
        return str(value)
    return "、".join(f"{sheet} {n}" for sheet, n in value.items()) or "无"


def _kind(action: str, value) -> str:
    if action.startswith("approval."):
        return APPROVAL_LABELS.get(value, value)
    if value in {k.value for k in DepartmentKind}:
        return DepartmentKind(value).label
    return str(value)


def _detail_value(action: str, key: str, value, names: Names) -> str:
    simple = {
        "role": _role,
        "role_asked": _role,
        "village": lambda v: names.villages.get(str(v), v),
        "created": _counts,
        "changed": _counts,
        "faults": lambda v: f"{v}处",
        "by": lambda v: "、".join(
            {"name": "姓名", "phone": "电话", "wechat": "微信号"}.get(k, k) for k in v
        ),
        "found": lambda v: "、".join(codes.display(c) for c in v) or "无",
        "surface": lambda v: SURFACES.get(v, v),
        "via": lambda v: SURFACES.get(v, v),
        "department": lambda v: names.departments.get(v, f"编号{v}") if v is not None else "无",
        "grids": lambda v: "、".join(names.grids.get(g, f"编号{g}") for g in v) or "无",
        "villages": lambda v: "、".join(names.villages.get(str(i), f"编号{i}") for i in v) or "无",
        "routing": lambda v: "、".join(_kind("", k) for k in v) or "无",
        "limits": _limits,
        "workday": lambda v: "上班" if v is True else ("放假" if v is False else "取消更正"),
        "off": lambda v: f"{v}天",
        "work": lambda v: f"{v}天",
        "retention_days": lambda v: f"{v}天",
        "asked_by": names.user,
        "approval": lambda v: f"第{v}号",
        "messages": lambda v: "、".join(f"第{i}号" for i in v) or "无",
        "kind": lambda v: _kind(action, v),
    }
    if key in simple:
        return simple[key](value)
    if isinstance(value, bool):
        return _yes(value)
    if value is None:
        return "—"
    return str(value)


def detail_words(entry: AuditEntry, names: Names) -> list[tuple[str, str]]:
    """The entry's details as (label, words) pairs, in the order recorded."""
    return [
        (DETAILS.get(key, key), _detail_value(entry.action, key, value, names))
        for key, value in (entry.detail or {}).items()
    ]
