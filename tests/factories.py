"""factory_boy factories for the models, and `build_world`, a small town to test in."""

from __future__ import annotations

from types import SimpleNamespace

import factory
from factory.alchemy import SQLAlchemyModelFactory
from sqlalchemy import select

from server.db import db, unit
from server.models import Category, Department, DepartmentKind, Grid, Role, Town, User, Village
from server.trust import passwords

PASSWORD = "Test@2026pw"
_PASSWORD_HASH = passwords.hash_password(PASSWORD)


class Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731 - read at call time
        sqlalchemy_session_persistence = "flush"


class TownFactory(Base):
    class Meta:
        model = Town

    name = factory.Sequence(lambda n: f"测试镇{n}")
    hotline = "12345"


class VillageFactory(Base):
    class Meta:
        model = Village

    town = factory.SubFactory(TownFactory)
    code = factory.Sequence(lambda n: f"T{n:03d}")
    name = factory.Sequence(lambda n: f"测试{n}村")


class GridFactory(Base):
    class Meta:
        model = Grid

    village = factory.SubFactory(VillageFactory)
    code = factory.Sequence(lambda n: f"G{n:04d}")
    name = factory.Sequence(lambda n: f"第{n}网格")


class DepartmentFactory(Base):
    class Meta:
        model = Department

    town = factory.SubFactory(TownFactory)
    name = factory.Sequence(lambda n: f"部门{n}")
    kind = DepartmentKind.OTHER
    town_wide = False


def _town_of(user) -> Town | None:
    if getattr(user, "department", None) is not None:
        return user.department.town
    if getattr(user, "grids", None):
        return user.grids[0].village.town
    return db.session.scalar(select(Town).order_by(Town.id))


class UserFactory(Base):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    display_name = factory.LazyAttribute(lambda o: o.username)
    role = Role.CENTER
    password_hash = _PASSWORD_HASH
    active = True
    # The town of a department's member or of a grid worker's grids, else the test's
    # (first) town; town=None makes a district account.
    town = factory.LazyAttribute(lambda o: _town_of(o))


def category(code: str) -> Category:
    """A default category (installed with the test database) by code."""
    return db.session.scalar(select(Category).where(Category.code == code))


def build_world() -> SimpleNamespace:
    """Two villages; police, justice, safety, enforcement; mediation committees; a legal
    advisor; one account for each role, a handler in every department."""
    # Its papers are numbered 大调字… as the demo town's: each town prints its name's first.
    town = TownFactory(name="大王庄镇")
    v1 = VillageFactory(town=town, name="东村")
    v2 = VillageFactory(town=town, name="西村")
    g1, g2 = GridFactory(village=v1), GridFactory(village=v2)

    def dept(name, kind, **kw):
        return DepartmentFactory(town=town, name=name, kind=kind, **kw)

    w = SimpleNamespace(town=town, v1=v1, v2=v2, g1=g1, g2=g2)
    w.police = dept("测试派出所", DepartmentKind.POLICE_STATION, town_wide=True)
    w.justice = dept("测试司法所", DepartmentKind.JUSTICE_OFFICE, town_wide=True)
    w.safety = dept("测试安监办", DepartmentKind.WORK_SAFETY_OFFICE, town_wide=True)
    w.enforcement = dept("测试执法大队", DepartmentKind.ENFORCEMENT_TEAM, town_wide=True)
    w.committee1 = dept("东村村委会", DepartmentKind.VILLAGE_COMMITTEE, villages=[v1])
    w.committee2 = dept("西村村委会", DepartmentKind.VILLAGE_COMMITTEE, villages=[v2])
    w.advisor1 = dept("东片法律顾问", DepartmentKind.LEGAL_ADVISOR, villages=[v1])

    w.center = UserFactory(username="t_center", role=Role.CENTER)
    w.leader = UserFactory(username="t_leader", role=Role.LEADER)
    w.admin = UserFactory(username="t_admin", role=Role.ADMIN)
    w.security = UserFactory(username="t_security", role=Role.SECURITY_ADMIN)
    w.auditor = UserFactory(username="t_auditor", role=Role.AUDITOR)
    w.police_handler = UserFactory(username="t_police", role=Role.HANDLER, department=w.police)
    w.justice_handler = UserFactory(username="t_justice", role=Role.HANDLER, department=w.justice)
    w.committee1_handler = UserFactory(username="t_cw1", role=Role.HANDLER, department=w.committee1)
    # Every department has someone in it: dispatch refuses a department nobody works in.
    w.safety_handler = UserFactory(username="t_safety", role=Role.HANDLER, department=w.safety)
    w.enforcement_handler = UserFactory(
        username="t_enforce", role=Role.HANDLER, department=w.enforcement
    )
    w.committee2_handler = UserFactory(username="t_cw2", role=Role.HANDLER, department=w.committee2)
    w.advisor1_handler = UserFactory(username="t_lawyer1", role=Role.HANDLER, department=w.advisor1)
    w.worker1 = UserFactory(username="t_grid1", role=Role.GRID_WORKER, grids=[g1])
    w.worker2 = UserFactory(username="t_grid2", role=Role.GRID_WORKER, grids=[g2])
    # Committed (a savepoint of the test's transaction), its objects kept loaded: a
    # command under test that rolls its own work back leaves the town standing.
    unit.finish()
    return w


def build_towns() -> dict:
    """`world`'s town, a second town with its own people, and the district's accounts
    (its center and leader, and a district department, 区直部门, with a handler)."""
    other = TownFactory(name="小王庄镇")
    village = VillageFactory(town=other, name="北村")
    grid = GridFactory(village=village)
    police = DepartmentFactory(
        town=other, name="小王庄派出所", kind=DepartmentKind.POLICE_STATION, town_wide=True
    )
    justice = DepartmentFactory(
        town=other, name="小王庄司法所", kind=DepartmentKind.JUSTICE_OFFICE, town_wide=True
    )
    committee = DepartmentFactory(
        town=other, name="北村村委会", kind=DepartmentKind.VILLAGE_COMMITTEE, villages=[village]
    )
    people = {
        "center": UserFactory(username="o_center", role=Role.CENTER, town=other),
        "leader": UserFactory(username="o_leader", role=Role.LEADER, town=other),
        "police": UserFactory(username="o_police", role=Role.HANDLER, department=police),
        "justice": UserFactory(username="o_justice", role=Role.HANDLER, department=justice),
        "committee": UserFactory(username="o_cw", role=Role.HANDLER, department=committee),
        "grid": UserFactory(username="o_grid", role=Role.GRID_WORKER, grids=[grid]),
        "district": UserFactory(username="d_center", role=Role.CENTER, town=None),
        "district_leader": UserFactory(username="d_leader", role=Role.LEADER, town=None),
    }
    bureau = DepartmentFactory(
        town=None, name="区公安分局", kind=DepartmentKind.OTHER, town_wide=False
    )
    people["bureau"] = UserFactory(username="d_police", role=Role.HANDLER, department=bureau)
    unit.finish()
    return {
        "town": other,
        "village": village,
        # The department; "justice" is the handler in it.
        "justice_office": justice,
        "district_department": bureau,
        **people,
    }
