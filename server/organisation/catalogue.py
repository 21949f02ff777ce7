"""The default categories (DESIGN.md), their routing and time limits, as data.

Installed by `grid-report seed-categories` (and by the demo); admins edit them after.
Codes: D = dispute (the Ministry of Justice's people's-mediation statistics list),
S = public-security hazard, H = safety hazard, E = enforcement.
"""

from __future__ import annotations

from sqlalchemy import select

from server.db import db
from server.models import (
    AssignmentRole,
    Category,
    CategoryGroup,
    CategoryTimeLimit,
    DepartmentKind,
    RiskLevel,
    RoutingRule,
)
from server.organisation.deadlines import default_limits

G = CategoryGroup
K = DepartmentKind

# (code, name, hint for villagers, risk, urgent, confidential, emergency)
CATEGORIES: dict[CategoryGroup, list[tuple]] = {
    G.DISPUTE: [
        ("D01", "婚姻家庭纠纷", "夫妻、婆媳、赡养、抚养、继承等家里的矛盾"),
        ("D02", "邻里纠纷", "邻居之间的矛盾：通行、排水、噪音、吵架"),
        ("D03", "房屋宅基地纠纷", "房子、宅基地的边界和归属"),
        ("D04", "合同纠纷", "买卖、借钱、承包等说好了又不算数"),
        ("D05", "生产经营纠纷", "种地、养殖、做生意中的矛盾"),
        ("D06", "损害赔偿纠纷", "东西被弄坏、人受了伤，谈不拢赔偿"),
        ("D07", "山林土地纠纷", "承包地、林地、坑塘的归属和边界"),
        ("D08", "征地拆迁纠纷", "征地、拆迁、补偿的矛盾"),
        ("D09", "环境污染纠纷", "排污、臭味、噪声影响生活"),
        ("D10", "劳动争议纠纷", "工钱不给、拖欠农民工工资、工伤"),
        ("D11", "旅游纠纷", "旅游中的矛盾"),
        ("D12", "消费纠纷", "买到假货、退货退款的矛盾"),
        ("D13", "医疗纠纷", "看病治病中的矛盾"),
        ("D14", "道路交通事故纠纷", "车辆碰撞、事故赔偿"),
        ("D15", "物业管理纠纷", "物业服务、收费的矛盾"),
        ("D16", "知识产权纠纷", "商标、专利、品种被仿冒"),
        ("D17", "互联网纠纷", "网上买卖、网上借贷、网络谣言"),
        ("D99", "其他纠纷", "其他矛盾纠纷"),
    ],
    G.SECURITY_HAZARD: [
        ("S01", "涉暴恐", "有人宣扬或准备暴力恐怖活动", RiskLevel.RED, True, True, True),
        ("S02", "涉枪涉爆", "私藏枪支、炸药、雷管，私制烟花爆竹", RiskLevel.RED, True, True, True),
        ("S03", "涉制毒", "有人制造毒品或可疑的化学加工", RiskLevel.RED, True, True, False),
        ("S04", "涉贩毒", "有人买卖毒品", RiskLevel.RED, True, True, False),
        ("S05", "涉吸毒", "有人吸毒", RiskLevel.ORANGE, False, True, False),
        ("S06", "邪教活动", "有人传播邪教、聚会宣讲", RiskLevel.ORANGE, False, True, False),
        ("S07", "传销", "拉人头、交钱入会的传销", RiskLevel.ORANGE, False, True, False),
        ("S08", "黑恶势力", "欺行霸市、强揽工程、暴力讨债", RiskLevel.RED, False, True, False),
        ("S09", "赌博", "聚众赌博、设赌场", RiskLevel.YELLOW, False, True, False),
        ("S10", "盗窃诈骗", "偷盗、电信诈骗、骗钱", RiskLevel.YELLOW, False, False, False),
    ],
    G.SAFETY_HAZARD: [
        ("H00", "火情", "正在着火、冒烟", RiskLevel.RED, True, False, True),
        (
            "H01",
            "火灾隐患",
            "乱拉电线、柴草堆放、消防通道堵塞",
            RiskLevel.ORANGE,
            False,
            False,
            False,
        ),
        ("H02", "安全生产隐患", "小作坊、工厂、工地不安全", RiskLevel.ORANGE, False, False, False),
        (
            "H03",
            "交通安全隐患",
            "路坏了、缺少标志、违规载人",
            RiskLevel.YELLOW,
            False,
            False,
            False,
        ),
        (
            "H04",
            "食品药品安全",
            "过期变质食品、来路不明的药",
            RiskLevel.YELLOW,
            False,
            False,
            False,
        ),
        (
            "H99",
            "其他安全隐患",
            "房屋危险、电线老化等其他隐患",
            RiskLevel.YELLOW,
            False,
            False,
            False,
        ),
    ],
    G.ENFORCEMENT: [
        ("E01", "违法建设", "私搭乱建、违建大棚房", RiskLevel.YELLOW, False, False, False),
        ("E02", "非法广告", "乱贴乱挂的小广告", RiskLevel.YELLOW, False, False, False),
        ("E03", "非法捕鱼", "电鱼、毒鱼、禁渔期捕鱼", RiskLevel.YELLOW, False, False, False),
        ("E04", "河道问题", "河道垃圾、侵占河道", RiskLevel.YELLOW, False, False, False),
        ("E05", "非法焚烧", "焚烧秸秆、垃圾", RiskLevel.YELLOW, False, False, False),
    ],
}

# Who handles each group: (kind, role).
ROUTING: dict[CategoryGroup, list[tuple[DepartmentKind, AssignmentRole]]] = {
    G.DISPUTE: [(K.VILLAGE_COMMITTEE, AssignmentRole.LEAD), (K.JUSTICE_OFFICE, AssignmentRole.CO)],
    G.SECURITY_HAZARD: [(K.POLICE_STATION, AssignmentRole.LEAD)],
    G.SAFETY_HAZARD: [(K.WORK_SAFETY_OFFICE, AssignmentRole.LEAD)],
    G.ENFORCEMENT: [(K.ENFORCEMENT_TEAM, AssignmentRole.LEAD)],
}


def install_categories() -> int:
    """Add the default categories that are missing (by code); return how many were added."""
    existing = set(db.session.scalars(select(Category.code)))
    added = 0
    for order, (group, rows) in enumerate(CATEGORIES.items()):
        for position, row in enumerate(rows):
            code, name, hint, *flags = row
            if code in existing:
                continue
            risk, urgent, confidential, emergency = flags or (RiskLevel.YELLOW, False, False, False)
            category = Category(
                code=code,
                name=name,
                hint=hint,
                group=group,
                default_risk_level=risk,
                urgent=urgent,
                confidential=confidential,
                emergency=emergency,
                sort_order=order * 100 + position,
            )
            for step, (warn, due) in default_limits(group, urgent).items():
                category.time_limits.append(CategoryTimeLimit(step=step, warn=warn, due=due))
            for kind, role in ROUTING[group]:
                category.routing_rules.append(RoutingRule(department_kind=kind, role=role))
            db.session.add(category)
            added += 1
    db.session.flush()
    return added
