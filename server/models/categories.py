"""Categories of reports and the rules they carry: time limits and routing.

The categories are the district's, shared by its towns (a case of any town is counted
under one code). Their time limits and routing are set at the district (rows of no town)
and overridden by a town where it differs (rows of that town): issue 21.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import db
from server.models.base import DISTRICT_ROW, LabelledEnum, enum_type
from server.models.organisation import Department, DepartmentKind
from server.models.places import Town, Village


class CategoryGroup(LabelledEnum):
    DISPUTE = "dispute", "矛盾纠纷"
    SECURITY_HAZARD = "security_hazard", "治安隐患"
    SAFETY_HAZARD = "safety_hazard", "安全隐患"
    ENFORCEMENT = "enforcement", "综合执法"


class Severity(LabelledEnum):
    GENERAL = "general", "一般"
    LARGER = "larger", "较大"
    MAJOR = "major", "重大"
    EXTRAORDINARY = "extraordinary", "特别重大"


class RiskLevel(LabelledEnum):
    RED = "red", "红"
    ORANGE = "orange", "橙"
    YELLOW = "yellow", "黄"


class Step(LabelledEnum):
    """A step of the lifecycle that has a time limit (see `server.cases.workflow`)."""

    ACCEPT = "accept", "受理"
    DISPATCH = "dispatch", "派遣"
    SIGN_FOR = "sign_for", "签收"
    HANDLE = "handle", "处置"
    VERIFY = "verify", "核查"
    FOLLOW_UP = "follow_up", "回访"


class AssignmentRole(LabelledEnum):
    LEAD = "lead", "主办"
    CO = "co", "协办"


class Category(db.Model):
    """One kind of report (类别), with its group, defaults and handling rules."""

    __tablename__ = "category"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(32))
    group: Mapped[CategoryGroup] = mapped_column(enum_type(CategoryGroup, "category_group"))
    # Plain words for villagers choosing a kind of problem on the QR page.
    hint: Mapped[str | None] = mapped_column(String(200))
    default_severity: Mapped[Severity] = mapped_column(
        enum_type(Severity, "severity"), default=Severity.GENERAL
    )
    default_risk_level: Mapped[RiskLevel] = mapped_column(
        enum_type(RiskLevel, "risk_level"), default=RiskLevel.YELLOW
    )
    # Alert the center and the police station at once, day or night.
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    # The informant and the exact place are for the center's eyes only.
    confidential: Mapped[bool] = mapped_column(Boolean, default=False)
    # The villager's form first says "call 110 / 119 now".
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)

    time_limits: Mapped[list[CategoryTimeLimit]] = relationship(
        back_populates="category", cascade="all, delete-orphan"
    )
    routing_rules: Mapped[list[RoutingRule]] = relationship(
        back_populates="category", cascade="all, delete-orphan"
    )

    @property
    def is_dispute(self) -> bool:
        return self.group == CategoryGroup.DISPUTE

    def __repr__(self) -> str:
        return f"<Category {self.code} {self.name}>"


class CategoryTimeLimit(db.Model):
    """How long one step may take for a category: yellow at `warn`, red at `due`.

    Durations are written as a number and a unit: ``30m`` clock minutes, ``4h`` clock
    hours, ``30d`` calendar days, ``2wd`` working days (see `server.organisation.deadlines`).
    A row of no town is the district's; a town's own row overrides it for that town's
    cases.
    """

    __tablename__ = "category_time_limit"
    __table_args__ = (
        UniqueConstraint("town_id", "category_id", "step"),
        # NULLs are never equal in a UNIQUE: the district's rows need their own.
        Index(
            "uq_category_time_limit_district_step",
            "category_id",
            "step",
            unique=True,
            sqlite_where=text(DISTRICT_ROW),
            postgresql_where=text(DISTRICT_ROW),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id", ondelete="CASCADE"))
    town_id: Mapped[int | None] = mapped_column(ForeignKey("town.id", ondelete="CASCADE"))
    step: Mapped[Step] = mapped_column(enum_type(Step, "step"))
    warn: Mapped[str | None] = mapped_column(String(8))
    due: Mapped[str] = mapped_column(String(8))

    category: Mapped[Category] = relationship(back_populates="time_limits")
    town: Mapped[Town | None] = relationship()


class RoutingRule(db.Model):
    """Where a category's cases go: a department, or a kind resolved per village.

    Rules naming a village win over a town's rules for all its villages (town_id set,
    village_id NULL), which win over the district's for every village (both NULL).
    """

    __tablename__ = "routing_rule"
    __table_args__ = (
        CheckConstraint("(department_id IS NULL) <> (department_kind IS NULL)", name="one_target"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(
        ForeignKey("category.id", ondelete="CASCADE"), index=True
    )
    village_id: Mapped[int | None] = mapped_column(ForeignKey("village.id", ondelete="CASCADE"))
    town_id: Mapped[int | None] = mapped_column(ForeignKey("town.id", ondelete="CASCADE"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    department_kind: Mapped[DepartmentKind | None] = mapped_column(
        enum_type(DepartmentKind, "routing_department_kind")
    )
    role: Mapped[AssignmentRole] = mapped_column(enum_type(AssignmentRole, "routing_role"))

    category: Mapped[Category] = relationship(back_populates="routing_rules")
    village: Mapped[Village | None] = relationship()
    department: Mapped[Department | None] = relationship()
