"""Demo data that mirrors the town in the report: 45 villages and a living case load.

Every demo case is made by the same operations as real ones (`submit_report`,
`workflow.apply`) on a clock moved back in time, so timelines and deadlines are real.
"""

from __future__ import annotations

import random
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from server.cases import access, workflow
from server.cases.operations import Party, ReportDraft, Reporter, submit_report
from server.db import db
from server.follow_through import screening
from server.infra import clock
from server.models import (
    Case,
    Category,
    CategoryTimeLimit,
    ClosingReason,
    Department,
    DepartmentKind,
    Grid,
    ResultCode,
    Role,
    Step,
    Town,
    User,
    Village,
)
from server.organisation import catalogue
from server.organisation.routing import route
from server.trust import passwords

VILLAGE_NAMES = [
    "大钟庄",
    "小钟庄",
    "东王庄",
    "西王庄",
    "前辛庄",
    "后辛庄",
    "李家口",
    "张家铺",
    "刘家堡",
    "北马庄",
    "南马庄",
    "高家庄",
    "杨家营",
    "赵各庄",
    "孙家湾",
    "周庄",
    "吴家坨",
    "郑各庄",
    "冯家台",
    "陈家口",
    "褚庄",
    "卫家庄",
    "蒋庄",
    "沈家坟",
    "韩家铺",
    "朱庄子",
    "秦家庄",
    "许家台",
    "何庄",
    "吕家湾",
    "施庄",
    "孔庄子",
    "曹家庄",
    "严家口",
    "华庄",
    "金庄子",
    "魏家堡",
    "陶庄",
    "姜家庄",
    "戚庄",
    "谢家营",
    "邹庄",
    "喻家庄",
    "柏庄",
    "水庄子",
]

# The parties' names of the demo's disputes, varied so no two disputes look repeated.
SURNAMES = "张李王刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = ["建国", "秀英", "志强", "桂兰", "春生", "玉梅", "德福"]

# (category, description, people, place) for the demo's reports.
STORIES = [
    ("D02", "两户邻居因院墙排水问题多次争吵，一方扬言要拆墙。", 4, "村东头胡同"),
    ("D10", "村里十二名农民工反映包工头拖欠去年秋收后的工资共约八万元。", 12, "村委会门口"),
    ("D03", "兄弟两家对老宅基地的分界有争议，已发生推搡。", 6, "村西老宅"),
    ("D01", "老人反映儿子儿媳不尽赡养义务，生活困难。", 3, "村南"),
    ("D07", "两个生产队对一片承包地的边界各执一词。", 20, "村北承包地"),
    ("D14", "电动三轮车与农用车相撞，双方就赔偿协商不成。", 2, "县道路口"),
    ("D06", "养殖户的鸭子被邻居家的狗咬死，赔偿谈不拢。", 2, "坑塘边"),
    ("D04", "村民借款三万元到期不还，出借人多次上门讨要。", 2, "村中街"),
    ("S04", "有陌生人夜里在废弃厂房附近交易可疑物品。", 3, "村东废弃厂房"),
    ("S06", "有人挨家挨户发放宣传邪教的材料。", 2, "村中心广场"),
    ("S07", "有人组织村民开会，要求交钱入会拉人头。", 15, "村文化室"),
    ("S09", "村头小卖部后屋有人聚众赌博。", 8, "村头小卖部"),
    ("S10", "多户村民接到冒充公安的诈骗电话，一人被骗两千元。", 5, "全村"),
    ("H01", "几户人家院外堆放大量秸秆，紧挨电线杆。", 5, "村西胡同"),
    ("H01", "村里小饭馆后厨私拉电线，液化气罐放在灶边。", 3, "主街饭馆"),
    ("H02", "村边小作坊用电焊，旁边堆着油漆桶。", 4, "村边作坊"),
    ("H03", "村口桥护栏损坏，晚上没有路灯。", 1, "村口桥"),
    ("H04", "集市上有人卖来路不明的保健药品。", 1, "集市"),
    ("E01", "有人在基本农田上违规搭建大棚房。", 1, "村南农田"),
    ("E03", "有人在河道用电网捕鱼。", 2, "村北河道"),
    ("E05", "夜间有人在村外焚烧垃圾和秸秆。", 1, "村外空地"),
    ("E04", "河道里堆放大量建筑垃圾。", 1, "村北河道"),
]

# The path each demo case takes through the lifecycle (the last item is where it stops).
PATHS = {
    "submitted": [],
    "accepted": ["accept"],
    "rejected": ["reject"],
    "merged": ["merge"],
    "dispatched": ["accept", "dispatch"],
    "in_progress": ["accept", "dispatch", "sign_for"],
    "extension": ["accept", "dispatch", "sign_for", "request_extension"],
    "supervised": ["accept", "dispatch", "sign_for", "supervise"],
    "resolved": ["accept", "dispatch", "sign_for", "resolve"],
    "follow_up": ["accept", "dispatch", "sign_for", "resolve", "verify"],
    "closed": ["accept", "dispatch", "sign_for", "resolve", "verify", "record_visit", "close"],
    "reopened": ["accept", "dispatch", "sign_for", "resolve", "verify", "reopen"],
    # A department asks to return it; the center has not decided yet (退单审核).
    "return_asked": ["accept", "dispatch", "return"],
    # Moved to another department (改派).
    "reassigned": ["accept", "dispatch", "sign_for", "reassign"],
    # Closed, then the villager says it is not solved (不满意重办): awaiting review.
    "complained": [
        "accept",
        "dispatch",
        "sign_for",
        "resolve",
        "verify",
        "record_visit",
        "close",
        "complain",
    ],
    # The same parties as an earlier dispute (重复纠纷), just reported.
    "repeat": [],
    # Smoke now (正在发生): urgent whatever the category.
    "happening": [],
}
PLAN = (
    ["submitted"] * 5
    + ["accepted"] * 3
    + ["rejected"] * 2
    + ["merged"]
    + ["dispatched"] * 4
    + ["in_progress"] * 5
    + ["extension", "supervised", "supervised"]
    + ["resolved"] * 3
    + ["follow_up"] * 3
    + ["closed"] * 7
    + ["reopened"]
    + ["return_asked", "reassigned", "complained", "repeat", "happening"]
)


def _department(town: Town | None, name: str, kind: DepartmentKind, **kw) -> Department:
    made = Department(town=town, name=name, kind=kind, **kw)
    db.session.add(made)
    return made


def _account(town: Town | None, password_hash: str, username, display_name, role, **kw) -> User:
    """A demo account of `town` (None: the district's), with the demo's password."""
    made = User(
        username=username,
        display_name=display_name,
        role=role,
        password_hash=password_hash,
        town=town,
        **kw,
    )
    db.session.add(made)
    return made


def _resolved(category: Category) -> dict:
    """A demo case's result: a dispute mediated, a hazard removed."""
    if category.is_dispute:
        return {
            "result_code": ResultCode.MEDIATED.value,
            "result_text": "已到现场处置，双方达成一致意见。",
        }
    return {
        "result_code": ResultCode.HAZARD_REMOVED.value,
        "result_text": "已到现场核实，隐患已整改消除。",
    }


def _visited(category: Category) -> dict:
    """A demo case's follow-up visit (回访): all well."""
    if category.is_dispute:
        return {
            "outcome": "kept",
            "text": "回访当事人，协议已履行，表示满意。",
            "satisfaction": "satisfied",
        }
    return {
        "outcome": "gone",
        "text": "回访现场，隐患已消除，群众满意。",
        "satisfaction": "satisfied",
    }


# The district's second, smaller town, and the district's accounts above both towns.
SECOND_TOWN = "小王庄镇"
SECOND_VILLAGES = ["北王", "南王", "东岗", "西岗", "前营"]
SECOND_PATHS = ["submitted", "accepted", "dispatched", "in_progress", "resolved", "closed"]


def _second_town(password_hash: str, rng: random.Random) -> dict[str, int]:
    """A second, smaller town of the district (小王庄镇): five villages, each with a grid
    and a mediation committee; its police station, justice office, work-safety office and
    enforcement team; its people (usernames `xw-...`); and a case in each of the first
    steps, made as real ones are. Its people see its cases only; the district sees both."""
    town = Town(name=SECOND_TOWN, hotline="12345")
    db.session.add(town)

    def department(name, kind, **kw):
        return _department(town, name, kind, **kw)

    def user(username, display_name, role, **kw):
        return _account(town, password_hash, username, display_name, role, **kw)

    villages, workers, mediators = [], [], []
    for number, name in enumerate(SECOND_VILLAGES, start=1):
        village = Village(town=town, code=f"W{number:02d}", name=f"{name}村")
        grid = Grid(village=village, code=f"W{number:02d}-G1", name=f"{name}村第一网格")
        committee = department(
            f"{name}村调委会", DepartmentKind.VILLAGE_COMMITTEE, villages=[village]
        )
        villages.append(village)
        workers.append(
            user(f"xw-grid{number:02d}", f"{name}村网格员", Role.GRID_WORKER, grids=[grid])
        )
        mediators.append(
            user(f"xw-med{number:02d}", f"{name}村人民调解员", Role.HANDLER, department=committee)
        )
    kinds = {
        DepartmentKind.POLICE_STATION: ("police", "小王庄派出所", "派出所民警"),
        DepartmentKind.JUSTICE_OFFICE: ("justice", "小王庄司法所", "司法所调解员"),
        DepartmentKind.WORK_SAFETY_OFFICE: ("safety", "小王庄镇安监办", "安监办干事"),
        DepartmentKind.ENFORCEMENT_TEAM: ("enforcement", "小王庄镇综合执法大队", "执法队员"),
    }
    handler_of = {}
    for kind, (key, name, person) in kinds.items():
        made = department(name, kind, town_wide=True)
        handler_of[made] = user(
            f"xw-{key}", f"{SECOND_TOWN}{person}", Role.HANDLER, department=made
        )
    center = user("xw-center", f"{SECOND_TOWN}调处中心值班员", Role.CENTER)
    user("xw-leader", f"{SECOND_TOWN}分管领导", Role.LEADER)
    user("xw-admin", f"{SECOND_TOWN}系统管理员", Role.ADMIN)
    db.session.flush()

    categories = {c.code: c for c in db.session.scalars(select(Category))}
    # The town settles neighbours' quarrels faster than the district asks (its own limit,
    # which its cases go by; the district's other towns keep the district's).
    categories["D02"].time_limits.append(
        CategoryTimeLimit(town=town, step=Step.HANDLE, warn="10d", due="15d")
    )
    stories = [s for s in STORIES if not categories[s[0]].confidential]
    start = clock.now() - timedelta(days=20)
    made = 0
    for index, path_name in enumerate(SECOND_PATHS):
        code, text, people, place = stories[(index * 5) % len(stories)]
        category = categories[code]
        number = index % len(villages)
        village, worker = villages[number], workers[number]
        with clock.frozen_at(start + timedelta(days=index * 3, hours=rng.randrange(0, 9))):
            case = submit_report(
                ReportDraft(
                    village=village,
                    category=category,
                    description=text,
                    place_text=place,
                    people_involved=people,
                    source="grid_worker",
                    grid=village.grids[0],
                    reporter=Reporter(),
                    parties=[Party(name="王建国"), Party(name="李春生", side="respondent")]
                    if category.is_dispute
                    else [],
                ),
                actor=worker,
            )
            lead = route(category, village).lead
            handler = (
                mediators[number]
                if lead.kind == DepartmentKind.VILLAGE_COMMITTEE
                else handler_of[lead]
            )
            for step, action in enumerate(PATHS[path_name]):
                clock.advance(timedelta(hours=2 + step * 8))
                actor, fields = center, {}
                if action == "dispatch":
                    fields = {"lead_department": lead.id}
                elif action in {"sign_for", "resolve"}:
                    actor = handler
                    if action == "resolve":
                        fields = _resolved(category)
                elif action == "record_visit":
                    actor = worker
                    fields = _visited(category)
                elif action == "close":
                    fields = {"closing_reason": ClosingReason.RESOLVED.value}
                workflow.apply(case, action, actor=actor, **fields)
        made += 1
    return {"villages": len(villages), "cases": made}


# The district's own departments (区直部门) and who signs for their cases.
DISTRICT_DEPARTMENTS = [
    ("区公安分局", "district-police", "区公安分局民警"),
    ("区司法局", "district-justice", "区司法局调解员"),
    ("区信访局", "district-petition", "区信访局干事"),
]


def _district(password_hash: str, town_center: User, cases: list[Case]) -> None:
    """The district above both towns: its center and leader (no town of their own), its
    departments, and one of the town's disputes escalated to it two days ago (上报区级),
    which its center has sent to the district's justice bureau, so its queue has work."""
    district = _account(None, password_hash, "district", "区矛调中心值班员", Role.CENTER)
    _account(None, password_hash, "district-leader", "区分管领导", Role.LEADER)
    # Sets what every town shares: the categories, and the limits and routing they follow.
    _account(None, password_hash, "district-admin", "区系统管理员", Role.ADMIN)
    # Keeps every town's accounts, and places a new one in a town or at the district.
    _account(None, password_hash, "district-security", "区安全管理员", Role.SECURITY_ADMIN)
    bureaus = {}
    for name, username, person in DISTRICT_DEPARTMENTS:
        bureaus[name] = _department(None, name, DepartmentKind.OTHER)
        _account(None, password_hash, username, person, Role.HANDLER, department=bureaus[name])
    db.session.flush()
    went_up = clock.now() - timedelta(days=2)
    case = next(
        (
            c
            for c in cases
            if c.category.is_dispute
            and c.status in ("accepted", "dispatched", "in_progress")
            and c.updated_at < went_up
        ),
        None,
    )
    if case is None:
        return
    with clock.frozen_at(went_up):
        workflow.apply(
            case, "escalate", actor=town_center, reason="涉及多户村民，镇里协调未果，请区级协调。"
        )
        clock.advance(timedelta(hours=3))
        workflow.apply(
            case,
            "dispatch",
            actor=district,
            lead_department=bureaus["区司法局"].id,
            note="请区司法局牵头调解，属地司法所配合。",
        )


def seed() -> dict[str, int]:
    """Create the demo town in the current session (the caller commits)."""
    rng = random.Random(2026)  # noqa: S311 - demo variety, not security
    password = current_app.config["DEMO_PASSWORD"]
    password_hash = passwords.hash_password(password)
    town = Town(name=current_app.config["TOWN_NAME"], hotline="12345")
    db.session.add(town)

    villages, grids, committees = [], [], []
    for number, name in enumerate(VILLAGE_NAMES, start=1):
        village = Village(town=town, code=f"V{number:02d}", name=f"{name}村")
        grid = Grid(village=village, code=f"V{number:02d}-G1", name=f"{name}村第一网格")
        villages.append(village)
        grids.append(grid)
        committees.append(
            Department(
                town=town,
                name=f"{name}村调委会",
                kind=DepartmentKind.VILLAGE_COMMITTEE,
                villages=[village],
            )
        )
        db.session.add(committees[-1])

    def department(name, kind, **kw):
        return _department(town, name, kind, **kw)

    police = department("大钟庄派出所", DepartmentKind.POLICE_STATION, town_wide=True)
    justice = department("大钟庄司法所", DepartmentKind.JUSTICE_OFFICE, town_wide=True)
    safety = department("镇安监办", DepartmentKind.WORK_SAFETY_OFFICE, town_wide=True)
    enforcement = department("镇综合执法大队", DepartmentKind.ENFORCEMENT_TEAM, town_wide=True)
    # The district retains ten legal advisors: one for the town government, nine who
    # each cover five villages.
    advisors = [
        department(
            f"法律顾问（第{i + 1}片区）",
            DepartmentKind.LEGAL_ADVISOR,
            villages=villages[i * 5 : i * 5 + 5],
        )
        for i in range(9)
    ]
    advisors.append(department("镇政府法律顾问", DepartmentKind.LEGAL_ADVISOR, town_wide=True))

    def user(username, display_name, role, **kw):
        return _account(town, password_hash, username, display_name, role, **kw)

    user("admin", "系统管理员", Role.ADMIN)
    user("security", "安全管理员", Role.SECURITY_ADMIN)
    user("auditor", "审计员", Role.AUDITOR)
    center = user("center", "调处中心值班员", Role.CENTER)
    leader = user("leader", "分管领导", Role.LEADER)
    handlers = {
        "police": user("police", "派出所民警", Role.HANDLER, department=police),
        "justice": user("justice", "司法所调解员", Role.HANDLER, department=justice),
        "safety": user("safety", "安监办干事", Role.HANDLER, department=safety),
        "enforcement": user("enforcement", "执法队员", Role.HANDLER, department=enforcement),
    }
    workers = [
        user(f"grid{n:02d}", f"{v.name}网格员", Role.GRID_WORKER, grids=[g])
        for n, (v, g) in enumerate(zip(villages, grids, strict=True), start=1)
    ]
    # Every department routing can name has someone to sign for its cases: a mediator
    # for each village's mediation committee, an account for each legal advisor.
    mediators = [
        user(f"med{n:02d}", f"{v.name}人民调解员", Role.HANDLER, department=c)
        for n, (v, c) in enumerate(zip(villages, committees, strict=True), start=1)
    ]
    lawyers = [
        user(f"lawyer{n:02d}", d.name, Role.HANDLER, department=d)
        for n, d in enumerate(advisors, start=1)
    ]
    db.session.flush()
    catalogue.install_categories()

    categories = {c.code: c for c in db.session.scalars(select(Category))}
    lead_handler = {
        DepartmentKind.JUSTICE_OFFICE: handlers["justice"],
        DepartmentKind.POLICE_STATION: handlers["police"],
        DepartmentKind.WORK_SAFETY_OFFICE: handlers["safety"],
        DepartmentKind.ENFORCEMENT_TEAM: handlers["enforcement"],
    }
    cases = []
    start = clock.now() - timedelta(days=60)
    for index, path_name in enumerate(PLAN):
        code, text, people, place = STORIES[index % len(STORIES)]
        if path_name == "happening":
            code, text, people, place = (
                "H01",
                "村西柴草垛冒烟了，紧挨着电线杆，请快来人！",
                3,
                "村西胡同",
            )
        village_index = rng.randrange(len(villages))
        parties = [
            Party(name=f"{SURNAMES[index % 20]}{GIVEN[index % 7]}"),
            Party(name=f"{SURNAMES[(index + 7) % 20]}{GIVEN[(index + 3) % 7]}", side="respondent"),
        ]
        if path_name == "repeat":
            earlier = next(c for c in cases if c.category.is_dispute and c.status == "closed")
            code, village_index = earlier.category.code, villages.index(earlier.village)
            text = "两家又为同一件事吵起来，一方扬言要动手。"
            parties = [Party(name=p.name, side=p.side.value) for p in earlier.parties]
        category = categories[code]
        village, worker = villages[village_index], workers[village_index]
        begin = start + timedelta(days=index * 50 / len(PLAN), hours=rng.randrange(0, 9))
        with clock.frozen_at(begin):
            by_worker = index % 3 != 0 and path_name != "complained"
            draft = ReportDraft(
                village=village,
                category=category,
                description=text,
                place_text=place,
                people_involved=people,
                source="grid_worker" if by_worker else "qr",
                grid=grids[village_index] if by_worker else None,
                group_dispute=people >= 5 and category.is_dispute,
                reporter=Reporter()
                if by_worker or index % 2
                else Reporter(anonymous=False, name="王先生", phone="13800000000"),
                parties=parties if category.is_dispute else [],
                happening_now=path_name == "happening",
            )
            case = submit_report(draft, actor=worker if by_worker else None)
            suggestion = route(category, village)
            # Disputes are settled first in the village, by its mediators; some go
            # straight to the justice office.
            lead = justice if category.is_dispute and index % 4 == 0 else suggestion.lead
            handler = (
                mediators[village_index]
                if lead is committees[village_index]
                else lead_handler[lead.kind]
            )
            for step_number, action in enumerate(PATHS[path_name]):
                clock.advance(timedelta(hours=2 + step_number * 8))
                actor, fields = center, {}
                if action == "merge":
                    fields = {"into": cases[0]}
                elif action == "reject":
                    fields = {"reason": "经核实不属于本镇管辖范围，已告知向县有关部门反映。"}
                elif action == "dispatch":
                    fields = {
                        "lead_department": lead.id,
                        "co_departments": [d.id for d in suggestion.co if d.id != lead.id],
                    }
                elif action in {"sign_for", "resolve", "request_extension"}:
                    actor = handler
                    if action == "resolve":
                        fields = _resolved(category)
                    elif action == "request_extension":
                        fields = {
                            "until": case.due_at + timedelta(days=10),
                            "reason": "当事人外出务工，需等其返乡后调解。",
                            "parties_consent": True,
                        }
                elif action == "record_visit":
                    # A confidential case's visit is the center's (workflow.guards.visits).
                    actor = center if category.confidential else worker
                    fields = _visited(category)
                elif action == "close":
                    fields = {"closing_reason": ClosingReason.RESOLVED.value}
                elif action == "reopen":
                    actor = worker if access.can_view_case(worker, case) else center
                    fields = {"reason": "回访发现问题再次出现。"}
                elif action == "return":
                    actor, fields = handler, {"reason": "经核实不属于本部门职责，请调处中心改派。"}
                elif action == "reassign":
                    fields = {
                        "lead_department": (enforcement if lead is not enforcement else safety).id,
                        "reason": "经研判需由其他部门牵头处置。",
                    }
                elif action == "complain":  # satisfied then, but it came back since
                    workflow.apply_as_reporter(case, "answer_follow_up", satisfaction="satisfied")
                    workflow.apply_as_reporter(
                        case, action, text="结案后问题又出现了，希望再来看看。"
                    )
                    continue
                workflow.apply(case, action, actor=actor, **fields)
        cases.append(case)
    # 批示: the leader has instructed on the supervised cases; one is carried out.
    for number, case in enumerate(c for c in cases if c.supervised):
        workflow.apply(
            case, "instruct", actor=leader, text="请调处中心督促主办部门尽快化解，结果报我。"
        )
        if number == 0:
            workflow.apply(
                case,
                "carry_out",
                actor=center,
                instruction=case.instructions[0].id,
                note="已电话督促主办部门，本周内上门调解。",
            )
    # Six weeks of screenings (排查): most villages weekly, a few missing weeks, so the
    # coverage page has gaps to show; most are nil returns.

    checklist = [c.code for c in categories.values()]
    screenings = 0
    for index, (village, worker) in enumerate(zip(villages, workers, strict=True)):
        for week in range(6):
            if (index + week) % 7 == 0:
                continue  # a missed week
            moment = clock.now() - timedelta(
                weeks=week, days=rng.randrange(0, 5), hours=rng.randrange(0, 8)
            )
            with clock.frozen_at(moment):
                screening.file_screening(
                    actor=worker, village=village, checked=checklist, findings=[]
                )
            screenings += 1
    db.session.flush()
    second = _second_town(password_hash, rng)
    _district(password_hash, center, cases)
    db.session.flush()
    return {
        "villages": len(villages),
        "users": len(handlers) + 3 + len(workers) + len(mediators) + len(lawyers),
        "cases": len(cases),
        "screenings": screenings,
        "second_town_villages": second["villages"],
        "second_town_cases": second["cases"],
    }
