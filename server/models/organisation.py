"""Departments that handle cases, and the people who use the system."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    UniqueConstraint,
    event,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import db
from server.models.base import LabelledEnum, UTCDateTime, enum_type, utcnow
from server.models.places import Grid, Town, Village


class DepartmentKind(LabelledEnum):
    POLICE_STATION = "police_station", "派出所"
    JUSTICE_OFFICE = "justice_office", "司法所"
    WORK_SAFETY_OFFICE = "work_safety_office", "安监办"
    ENFORCEMENT_TEAM = "enforcement_team", "综合执法大队"
    VILLAGE_COMMITTEE = "village_committee", "村调委会"  # the village mediation committee
    LEGAL_ADVISOR = "legal_advisor", "法律顾问"
    OTHER = "other", "其他"


class Role(LabelledEnum):
    GRID_WORKER = "grid_worker", "网格员"
    HANDLER = "handler", "处置人员"
    CENTER = "center", "调处中心"
    LEADER = "leader", "领导"
    ADMIN = "admin", "系统管理员"
    # 三员分立 (MLPS 2.0 level 3): the system admin configures, the security admin keeps
    # accounts and roles, the auditor alone reads the audit log; none of them reads cases.
    SECURITY_ADMIN = "security_admin", "安全管理员"
    AUDITOR = "auditor", "审计员"


department_village = Table(
    "department_village",
    db.metadata,
    Column("department_id", ForeignKey("department.id", ondelete="CASCADE"), primary_key=True),
    Column("village_id", ForeignKey("village.id", ondelete="CASCADE"), primary_key=True),
)

user_grid = Table(
    "user_grid",
    db.metadata,
    Column("user_id", ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True),
    Column("grid_id", ForeignKey("grid.id", ondelete="CASCADE"), primary_key=True),
)


class Department(db.Model):
    """A body that handles cases (部门): the police station, a village committee, ...

    A town-wide department covers every village; the others cover the villages listed.
    A district department (区直部门: town None) serves the cases the district's center
    holds, of any town (server/organisation/routing.py `may_take`).
    """

    __tablename__ = "department"
    __table_args__ = (
        # A name is a town's own: two towns may each have a 东村村委会. The district's
        # departments (town NULL, which a UNIQUE does not compare) have their own index.
        UniqueConstraint("town_id", "name"),
        Index(
            "uq_department_district_name",
            "name",
            unique=True,
            sqlite_where=text("town_id IS NULL"),
            postgresql_where=text("town_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    town_id: Mapped[int | None] = mapped_column(ForeignKey("town.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[DepartmentKind] = mapped_column(enum_type(DepartmentKind, "department_kind"))
    town_wide: Mapped[bool] = mapped_column(Boolean, default=False)
    phone: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    town: Mapped[Town | None] = relationship()
    villages: Mapped[list[Village]] = relationship(secondary=department_village)
    members: Mapped[list[User]] = relationship(back_populates="department")

    def covers(self, village: Village) -> bool:
        """Whether this department serves `village` (a town-wide one, its own town's)."""
        return (self.town_wide and self.town_id == village.town_id) or village in self.villages

    def __repr__(self) -> str:
        return f"<Department {self.name}>"


class User(db.Model):
    """A person with an account: grid worker, handler, center staff, leader or admin."""

    __tablename__ = "user_account"  # "user" is reserved on PostgreSQL
    __table_args__ = (
        CheckConstraint(
            "(role = 'handler') = (department_id IS NOT NULL)", name="handler_has_department"
        ),
        # Grid workers work in a town; the center, leaders, the three duties and the
        # handlers of a district department (区直部门) may sit at the district.
        CheckConstraint(
            "town_id IS NOT NULL OR role <> 'grid_worker'", name="grid_workers_have_town"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(32))
    role: Mapped[Role] = mapped_column(enum_type(Role, "role"))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), index=True)
    # The town whose cases this user works on; None: the district above the towns (区矛调中心,
    # 区领导), whose center and leaders see every town's (server/cases/access.py).
    town_id: Mapped[int | None] = mapped_column(ForeignKey("town.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The WeChat account bound to this user (mini program login). The session key is
    # WeChat's secret for this user's session: kept here, never sent to any client.
    wechat_openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    wechat_unionid: Mapped[str | None] = mapped_column(String(64))
    wechat_session_key: Mapped[str | None] = mapped_column(String(64))
    # The same person to the town's official account (公众号), whose web authorization
    # opens the phone workbench without a password: another appid, another openid.
    wechat_oa_openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    # A random secret of this user's, a digest of which every API token carries: a new one
    # on sign-out and on a password change, and every token issued before stops working
    # (tokens are signed, not stored; nothing in them can be guessed from a time).
    token_secret: Mapped[str | None] = mapped_column(String(32))
    # Set by a password reset: the next sign-in must choose a new password first.
    must_change_password: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )

    department: Mapped[Department | None] = relationship(back_populates="members")
    town: Mapped[Town | None] = relationship()
    grids: Mapped[list[Grid]] = relationship(secondary=user_grid)

    # Set by the API's token check for the request (server.auth), and forgotten when the
    # grids change: the villages without loading each grid.
    known_village_ids = None  # or a set of village ids

    @property
    def village_ids(self) -> set[int]:
        """The villages a grid worker looks after, through their grids."""
        if self.known_village_ids is not None:
            return self.known_village_ids
        return {grid.village_id for grid in self.grids}

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role}>"


@event.listens_for(User.grids, "append")
@event.listens_for(User.grids, "remove")
@event.listens_for(User.grids, "set")
def _forget_known_villages(user, *_args):
    user.known_village_ids = None
