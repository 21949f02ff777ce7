"""The case: one report followed until it is closed, its parties, assignments and timeline.

One module of some 450 lines on purpose: the case and the rows that belong to it (parties,
assignments, events, photos) name each other in their relationships and constraints, and
are read together; most of its lines are columns with the comment that says what each
keeps. Split, each part would import the others' names.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import db
from server.models.base import LabelledEnum, UTCDateTime, enum_type, utcnow
from server.models.categories import AssignmentRole, Category, RiskLevel, Severity, Step
from server.models.organisation import Department, User
from server.models.places import Grid, Screening, Town, Village


class CaseStatus(LabelledEnum):
    SUBMITTED = "submitted", "待受理"
    ACCEPTED = "accepted", "已受理"
    REJECTED = "rejected", "不予受理"
    MERGED = "merged", "已合并"
    DISPATCHED = "dispatched", "已派遣"
    IN_PROGRESS = "in_progress", "处置中"
    RESOLVED = "resolved", "已办结"
    FOLLOW_UP = "follow_up", "待回访"
    CLOSED = "closed", "已结案"


class Source(LabelledEnum):
    QR = "qr", "扫码上报"
    GRID_WORKER = "grid_worker", "网格员上报"
    SCREENING = "screening", "排查发现"
    WALK_IN = "walk_in", "来访"
    HOTLINE = "hotline", "来电"


class ResultCode(LabelledEnum):
    """What the department reports when it resolves a case (办结结果)."""

    MEDIATED = "mediated", "调解成功"
    HAZARD_REMOVED = "hazard_removed", "隐患已消除"
    MEDIATION_FAILED = "mediation_failed", "调解不成，引导诉讼或仲裁"
    REFERRED_POLICE = "referred_police", "移交公安"
    REFERRED_ELSEWHERE = "referred_elsewhere", "移交其他部门"
    NO_ACTION_NEEDED = "no_action_needed", "经核实无需处置"


class ClosingReason(LabelledEnum):
    RESOLVED = "resolved", "已化解（调解成功或隐患消除）"
    REFERRED_LITIGATION = "referred_litigation", "调解不成，转诉讼或仲裁"
    REFERRED_ELSEWHERE = "referred_elsewhere", "非本级职责，已移交"
    DUPLICATE = "duplicate", "重复上报"
    NO_FURTHER_ACTION = "no_further_action", "无需进一步处理"


class PartySide(LabelledEnum):
    APPLICANT = "applicant", "申请人"
    RESPONDENT = "respondent", "被申请人"


class PartyKind(LabelledEnum):
    PERSON = "person", "个人"
    ORGANISATION = "organisation", "单位"


# A case awaiting the center's review: a return or an extension asked for, a complaint.
# In parentheses: it is a disjunction, written as text beside other conditions (bare, the
# ORs once bound looser than the access policy's AND and leaked cases).
AWAITING_REVIEW = (
    "(complaint_at IS NOT NULL OR return_requested_at IS NOT NULL"
    " OR extension_requested_until IS NOT NULL)"
)

# The steps the sweep still has to chase (server/follow_through/sweep.py): one not yet
# yellow, by its warning time; one not yet red, by its due time. The sweep's queries say
# these same words, which is how both databases know the partial indexes below serve them.
SWEEP_WARN = "due_at IS NOT NULL AND clock_alert IS NULL"
SWEEP_DUE = "due_at IS NOT NULL AND (clock_alert IS NULL OR clock_alert = 'warn')"
# An open report held apart as a suspected flood (待甄别).
HELD = "held_as_spam AND due_at IS NOT NULL"
# An open case the district's center holds (its own queue, 区级承办): few in any year.
DISTRICT_HELD = "held_by_district AND due_at IS NOT NULL"
# A case settled by mediation (the judicial-confirmation reminder's).
MEDIATED = "result_code = 'mediated'"
# A case that still holds an informant's name, phone or WeChat id.
IDENTITY_HELD = (
    "(reporter_name IS NOT NULL OR reporter_phone IS NOT NULL OR reporter_wechat IS NOT NULL)"
)

# Statuses in which a department holds the case: it must have a lead department.
_WITH_DEPARTMENT = "'dispatched', 'in_progress', 'resolved'"


class Case(db.Model):
    """A report taken on and followed step by step until it is closed (案件).

    `status` is written by `server.cases.workflow.apply` alone. `version` is bumped by every
    change, so two people acting on a stale copy cannot both win.
    """

    __tablename__ = "case_file"  # "case" is an SQL keyword
    __table_args__ = (
        CheckConstraint(
            f"status NOT IN ({_WITH_DEPARTMENT}) OR lead_department_id IS NOT NULL",
            name="dispatched_has_department",
        ),
        CheckConstraint(
            "(status = 'closed') = (closed_at IS NOT NULL)", name="closed_at_iff_closed"
        ),
        CheckConstraint(
            "(status = 'merged') = (merged_into_id IS NOT NULL)", name="merged_has_target"
        ),
        CheckConstraint("(latitude IS NULL) = (longitude IS NULL)", name="coordinates_paired"),
        CheckConstraint("latitude IS NULL OR (latitude BETWEEN -90 AND 90)", name="latitude_range"),
        CheckConstraint(
            "longitude IS NULL OR (longitude BETWEEN -180 AND 180)", name="longitude_range"
        ),
        CheckConstraint("people_involved >= 1", name="people_involved_positive"),
        CheckConstraint(
            "NOT reporter_anonymous OR (reporter_name IS NULL AND reporter_phone IS NULL"
            " AND reporter_wechat IS NULL)",
            name="anonymous_has_no_identity",
        ),
        # An open case always has a running clock, and a finished one never: the queue's
        # partial indexes below rely on it.
        CheckConstraint(
            "(due_at IS NULL) = (status IN ('rejected', 'merged', 'closed'))", name="clock_iff_open"
        ),
        # The triage queue (server/cases/queue.py): open cases in (urgent, due_at, id) order,
        # alone or within one village, category or status; partial, so the finished
        # majority of cases costs them nothing.
        *[
            Index(
                f"ix_case_file_queue{suffix}",
                *lead,
                "urgent",
                "due_at",
                "id",
                *extra,
                sqlite_where=text("due_at IS NOT NULL"),
                postgresql_where=text("due_at IS NOT NULL"),
            )
            for suffix, lead, extra in (
                ("", (), ()),
                ("_village", ("village_id",), ()),
                ("_category", ("category_id",), ()),
                # Also covers the per-status counts under the common filters (and a town's
                # center's: the access policy's town).
                (
                    "_status",
                    ("status",),
                    (
                        "village_id",
                        "category_id",
                        "risk_level",
                        "supervised",
                        "held_as_spam",
                        "town_id",
                    ),
                ),
            )
        ],
        # The reports held apart as a suspected flood (待甄别): few, counted on every queue.
        Index(
            "ix_case_file_held",
            "urgent",
            "due_at",
            "id",
            "town_id",  # a town's count reads the index alone
            sqlite_where=text(HELD),
            postgresql_where=text(HELD),
        ),
        # The district center's queue: the cases handed up to it, read in the queue's order.
        # Led by the flag, which the queue asks `IS 1` beside its condition: SQLite, with
        # no statistics, took the whole queue's index (urgent=?) over a partial index
        # offering no more equalities, and walked every open case of the district for
        # its few (52 ms at a million cases).
        Index(
            "ix_case_file_district_held",
            "held_by_district",
            "urgent",
            "due_at",
            "id",
            sqlite_where=text(DISTRICT_HELD),
            postgresql_where=text(DISTRICT_HELD),
        ),
        # The same few, counted per status on every town's queue page (what went up) and
        # the district's: led by the status each count seeks, covering what the counts
        # test, so SQLite (no statistics) takes it over a seek of all the open cases of a
        # status (ix_case_file_status_newest), 80 ms a page at a million cases.
        Index(
            "ix_case_file_district_status",
            "status",
            "town_id",
            "held_as_spam",
            "village_id",
            "category_id",
            "risk_level",
            "supervised",
            "held_by_district",  # and its own condition's columns: no row is visited
            "due_at",
            sqlite_where=text(DISTRICT_HELD),
            postgresql_where=text(DISTRICT_HELD),
        ),
        # Finished cases, most recently changed first.
        Index("ix_case_file_status_updated", "status", "updated_at", "id"),
        # The lists of cases, newest first (server/cases/queries.py), each read in order from
        # the cursor on: everyone's, one village's, one status's, one category's; and the open
        # ones alone, in all or in one village (partial: a few percent of the table).
        Index("ix_case_file_newest", "created_at", "id"),
        Index("ix_case_file_village_newest", "village_id", "created_at", "id"),
        # A village's cases of one status (a grid worker's list by status): else a rare
        # status (rejected) would walk the village's whole history.
        Index("ix_case_file_village_status_newest", "village_id", "status", "created_at", "id"),
        Index("ix_case_file_status_newest", "status", "created_at", "id"),
        Index("ix_case_file_category_newest", "category_id", "created_at", "id"),
        # A village's cases of one category (a grid worker's list by category): else a
        # quiet village's page walked every case of the category in the town.
        Index(
            "ix_case_file_village_category_newest", "village_id", "category_id", "created_at", "id"
        ),
        *[
            Index(
                f"ix_case_file_open{suffix}_newest",
                *lead,
                "created_at",
                "id",
                sqlite_where=text("due_at IS NOT NULL"),
                postgresql_where=text("due_at IS NOT NULL"),
            )
            for suffix, lead in (("", ()), ("_village", ("village_id",)))
        ],
        # The sweep (server/follow_through/sweep.py) reads only the steps it still has to
        # chase: those not yet yellow by their warning time, those not yet red by their due
        # time; a table of closed cases costs it nothing.
        Index(
            "ix_case_file_sweep_warn",
            "warn_at",
            sqlite_where=text(SWEEP_WARN),
            postgresql_where=text(SWEEP_WARN),
        ),
        Index(
            "ix_case_file_sweep_due",
            "due_at",
            sqlite_where=text(SWEEP_DUE),
            postgresql_where=text(SWEEP_DUE),
        ),
        # Mediated cases by when they were settled: the judicial-confirmation reminder.
        Index(
            "ix_case_file_mediated",
            "resolved_at",
            sqlite_where=text(MEDIATED),
            postgresql_where=text(MEDIATED),
        ),
        # Cases still holding an informant's identity, by last change: what the retention
        # purge (server/trust/identity.py) may forget, without reading the anonymous rest.
        Index(
            "ix_case_file_identity_held",
            "updated_at",
            sqlite_where=text(IDENTITY_HELD),
            postgresql_where=text(IDENTITY_HELD),
        ),
        # Reports received in a period, counted by the figures from this index alone.
        Index(
            "ix_case_file_received", "created_at", "status", "source", "category_id", "village_id"
        ),
        Index("ix_case_file_lead_department_status", "lead_department_id", "status"),
        # Repeat disputes received in a period, for the figures: few rows.
        Index(
            "ix_case_file_repeat",
            "created_at",
            sqlite_where=text("repeat_dispute"),
            postgresql_where=text("repeat_dispute"),
        ),
        # What awaits the center's review (server/cases/queue.py): few rows, at any status.
        *[
            Index(
                f"ix_case_file_review{suffix}",
                *lead,
                "created_at",
                "id",
                sqlite_where=text(AWAITING_REVIEW),
                postgresql_where=text(AWAITING_REVIEW),
            )
            # A grid worker's villages: else their village's whole index is read for a few.
            for suffix, lead in (("", ()), ("_village", ("village_id",)))
        ],
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Public case number: random, not sequential, so numbers reveal neither volume nor
    # neighbours (see `server.infra.codes`).
    code: Mapped[str] = mapped_column(String(16), unique=True)
    source: Mapped[Source] = mapped_column(enum_type(Source, "source"))
    village_id: Mapped[int] = mapped_column(ForeignKey("village.id"))
    # The town the case belongs to (its village's, fixed when it is filed): every town's
    # people see their own town's cases only (server/cases/access.py).
    town_id: Mapped[int] = mapped_column(ForeignKey("town.id"))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"))
    # The screening (排查) that found it, for cases with source "screening".
    screening_id: Mapped[int | None] = mapped_column(ForeignKey("screening.id"), index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id"))
    severity: Mapped[Severity] = mapped_column(enum_type(Severity, "case_severity"))
    risk_level: Mapped[RiskLevel] = mapped_column(enum_type(RiskLevel, "case_risk_level"))
    people_involved: Mapped[int] = mapped_column(Integer, default=1)
    group_dispute: Mapped[bool] = mapped_column(Boolean, default=False)
    # 民转刑: a dispute that may turn into a crime.
    criminal_risk: Mapped[bool] = mapped_column(Boolean, default=False)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    # The reporter says it is happening now (正在发生：起火、冒烟、打架…): urgent whatever
    # the category, on the 30-minute clock, its lead department alerted at once.
    happening_now: Mapped[bool] = mapped_column(Boolean, default=False)
    # A dispute between the same parties as an earlier one within the window (重复纠纷),
    # found when it is filed (server/cases/repeats.py); the figures count them.
    repeat_dispute: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(Text)
    place_text: Mapped[str | None] = mapped_column(String(200))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # The informant (举报人): shown to the mediation center only (`server.cases.access`).
    reporter_anonymous: Mapped[bool] = mapped_column(Boolean, default=True)
    # Sealed (server/trust/identity.py): ciphertext, wider than what it holds.
    reporter_name: Mapped[str | None] = mapped_column(String(512))
    reporter_phone: Mapped[str | None] = mapped_column(String(512))
    reporter_wechat: Mapped[str | None] = mapped_column(String(512))
    # Filed by a grid worker on a villager's behalf: what the villager agreed to,
    # "anonymous" (no name kept) or "named" (kept, for the center's eyes only); None when
    # the informant filed it themselves.
    reporter_consent: Mapped[str | None] = mapped_column(String(16))
    # A villager's report that came past the village's hourly limit (a flood from many
    # addresses): taken, never refused, but held apart for the center to sift (待甄别);
    # it alerts nobody and is outside the queue until the center looks.
    held_as_spam: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # sha256 of the villager's tracking secret (the private link): the secret itself is
    # never stored, so the database cannot lead anyone to the report's author.
    tracking_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The account that filed it (a grid worker, center staff); NULL for villagers.
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # The client's Idempotency-Key for the create: unique here, so no retry, however late,
    # can make a second case.
    idempotency_key: Mapped[str | None] = mapped_column(String(36), unique=True)

    status: Mapped[CaseStatus] = mapped_column(
        enum_type(CaseStatus, "case_status"), default=CaseStatus.SUBMITTED
    )
    lead_department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    handler_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    # The running step's clock: yellow from warn_at, red (overdue) from due_at.
    step: Mapped[Step | None] = mapped_column(enum_type(Step, "case_step"))
    step_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How far the sweep has chased the running step: None, "warn" (yellow) or "overdue"
    # (red). A new clock starts it afresh, so each step is chased once per level.
    clock_alert: Mapped[str | None] = mapped_column(String(8))
    # An extension asked for and not yet decided.
    extension_requested_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A return (退回) the lead department asked for, awaiting the center's review (退单审核);
    # the reason is on the event.
    return_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The reporter's 不满意 or complaint (不满意重办), awaiting the center's review: it reopens
    # the case or confirms the result with a reason the reporter sees.
    complaint_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    supervised: Mapped[bool] = mapped_column(Boolean, default=False)
    # Ever escalated to the district (上报区级): kept in the archive's long-term file.
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    # The district's center holds the case now (an escalation handed it over, until the
    # district hands it back to the town, 交回属地): it alone acts on it, on its own clock,
    # and may send it to the district's departments (server/cases/access.py `holds`).
    held_by_district: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    # The latest satisfaction heard at a follow-up (a visit, or the reporter's own answer).
    satisfaction: Mapped[str | None] = mapped_column(String(24))
    result_code: Mapped[ResultCode | None] = mapped_column(enum_type(ResultCode, "result_code"))
    result_text: Mapped[str | None] = mapped_column(Text)
    # Said to the reporter when the report is not taken on.
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    # Indexed: a case's page lists the reports merged into it.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("case_file.id"), index=True)
    closing_reason: Mapped[ClosingReason | None] = mapped_column(
        enum_type(ClosingReason, "closing_reason")
    )

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The case's memory of its own timeline, for the facts each new event carries
    # (server/cases/workflow/events.py): when it last had each action, each action with its
    # result ("resolve=mediated"), and any counted action ("*counted"), as ISO times.
    # JSONB on PostgreSQL: its json type has no equality, and a case row is compared
    # whole by SELECT DISTINCT (server/cases/duplicates.py).
    last_events: Mapped[dict | None] = mapped_column(JSON().with_variant(JSONB(), "postgresql"))
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}

    village: Mapped[Village] = relationship()
    town: Mapped[Town] = relationship()
    grid: Mapped[Grid | None] = relationship()
    screening: Mapped[Screening | None] = relationship()
    category: Mapped[Category] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    lead_department: Mapped[Department | None] = relationship()
    handler: Mapped[User | None] = relationship(foreign_keys=[handler_id])
    merged_into: Mapped[Case | None] = relationship(remote_side=[id])
    # The duplicates folded into this case (合并), oldest first.
    merged_reports: Mapped[list[Case]] = relationship(
        primaryjoin="Case.id == foreign(Case.merged_into_id)", order_by="Case.id", viewonly=True
    )
    parties: Mapped[list[CaseParty]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseParty.id"
    )
    assignments: Mapped[list[CaseAssignment]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseAssignment.id"
    )
    events: Mapped[list[CaseEvent]] = relationship(
        back_populates="case", order_by="CaseEvent.id", viewonly=True
    )
    photos: Mapped[list[Photo]] = relationship(back_populates="case", order_by="Photo.id")
    instructions: Mapped[list[Instruction]] = relationship(
        back_populates="case", order_by="Instruction.id"
    )

    # Set by `operations.submit_report` on a new case, not a column: the earlier disputes
    # it repeats, found as it was checked (its answer need not look again).
    known_repeats = None
    # Likewise: what search indexes of a new case (server/cases/search.py `Entry`).
    search_entry = None

    @property
    def open_instructions(self) -> list[Instruction]:
        """The leaders' instructions (批示) the center has not marked carried out."""
        return [i for i in self.instructions if i.carried_out_at is None]

    @property
    def limits_town_id(self) -> int | None:
        """Whose time limits the case's clocks run on (server/organisation/deadlines.py):
        the district's while the district holds it, since its own center and departments
        work it to the district's settings, not to a town's own (a district bureau gets
        the same days for every town's case); else its town's."""
        return None if self.held_by_district else self.town_id

    @property
    def active_assignments(self) -> list[CaseAssignment]:
        """The departments holding the case now (lead first)."""
        current = [a for a in self.assignments if a.ended_at is None]
        return sorted(current, key=lambda a: a.role != AssignmentRole.LEAD)

    def __repr__(self) -> str:
        return f"<Case {self.code} {self.status}>"


class CaseParty(db.Model):
    """A party to a dispute (当事人): applicant or respondent, person or organisation."""

    __tablename__ = "case_party"
    # Repeat disputes look a name up among the cases since a window's first one.
    __table_args__ = (Index("ix_case_party_name_key_case", "name_key", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id", ondelete="CASCADE"), index=True)
    side: Mapped[PartySide] = mapped_column(enum_type(PartySide, "party_side"))
    kind: Mapped[PartyKind] = mapped_column(enum_type(PartyKind, "party_kind"))
    name: Mapped[str] = mapped_column(String(64), index=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    # The name and phone as compared (server/cases/repeats.py): the same person written with
    # other spaces, width or punctuation, or the phone with +86, matches.
    name_key: Mapped[str] = mapped_column(String(64))
    phone_key: Mapped[str | None] = mapped_column(String(32))

    case: Mapped[Case] = relationship(back_populates="parties")


class CaseAssignment(db.Model):
    """A department's share of a case: lead (主办) or co-handler (联调), with its own clock."""

    __tablename__ = "case_assignment"
    __table_args__ = (
        Index("ix_case_assignment_department_open", "department_id", "ended_at"),
        # A department's cases, newest first (a handler's list, server/cases/queries.py),
        # read in order from this index alone.
        Index(
            "ix_case_assignment_department_newest", "department_id", "case_created_at", "case_id"
        ),
        # A department's open cases, newest first (a handler's list narrowed to open
        # cases): what it holds now and what it handed on that is still open.
        Index(
            "ix_case_assignment_department_open_case",
            "department_id",
            "case_created_at",
            "case_id",
            sqlite_where=text("case_open"),
            postgresql_where=text("case_open"),
        ),
        # A department's cases of one status, or of one village, newest first (a handler's
        # list narrowed so): a department's few rejected cases, or its cases of one village,
        # would otherwise be found among every case of that status or of its whole history.
        Index(
            "ix_case_assignment_department_status",
            "department_id",
            "case_status",
            "case_created_at",
            "case_id",
        ),
        Index(
            "ix_case_assignment_department_village",
            "department_id",
            "case_village_id",
            "case_created_at",
            "case_id",
        ),
        # Whether a department was sent a case (the access policy asks it for every row it
        # reads): both equalities, so no planner prefers walking the department's index.
        Index("ix_case_assignment_case_department", "case_id", "department_id"),
        # The cases dispatched in a month, by department or village (the league tables),
        # a town's by its villages: read from this index alone.
        Index(
            "ix_case_assignment_lead_assigned",
            "assigned_at",
            "case_village_id",
            "department_id",
            "case_id",
            sqlite_where=text("role = 'lead'"),
            postgresql_where=text("role = 'lead'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id", ondelete="CASCADE"))
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"))
    # The case's received time, copied: a department's list is ordered like everyone's
    # (newest first) and can be read from the index above without visiting the cases.
    case_created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Whether the case is open (kept by the workflow's engine when a case ends or opens
    # again), so that a department's open cases are read without its whole history.
    case_open: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # The case's status (kept by the workflow's engine at every change) and its village
    # (fixed when it is reported), copied for the same reason.
    case_status: Mapped[CaseStatus] = mapped_column(enum_type(CaseStatus, "assignment_case_status"))
    case_village_id: Mapped[int] = mapped_column(Integer)
    role: Mapped[AssignmentRole] = mapped_column(enum_type(AssignmentRole, "assignment_role"))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    feedback: Mapped[str | None] = mapped_column(Text)
    feedback_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the case is returned, re-dispatched or closed: the share is over.
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    case: Mapped[Case] = relationship(back_populates="assignments")
    department: Mapped[Department] = relationship()


class CaseEvent(db.Model):
    """One entry of a case's timeline (案卷): append-only, never updated or deleted."""

    __tablename__ = "case_event"
    __table_args__ = (
        Index("ix_case_event_case_at", "case_id", "at"),
        # The figures (server/figures/statistics.py) count a year of events inside the database:
        # the actions counted per case, and the step clocks, each from one index alone.
        Index(
            "ix_case_event_figures",
            "action",
            "at",
            "category_id",
            "village_id",
            "result",
            "previous_at",
            "previous_result_at",
            "previous_counted_at",
            "seconds_since_report",
        ),
        Index(
            "ix_case_event_steps",
            "step",
            "at",
            "step_due_at",
            "action",
            "category_id",
            "village_id",
            sqlite_where=text("step IS NOT NULL"),
            postgresql_where=text("step IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id"))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[CaseStatus | None] = mapped_column(
        enum_type(CaseStatus, "event_from_status")
    )
    to_status: Mapped[CaseStatus] = mapped_column(enum_type(CaseStatus, "event_to_status"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # NULL actor: a villager or the system (the sweep).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    actor_role: Mapped[str | None] = mapped_column(String(16))
    # Free text the actor wrote (a reason, a result, a note).
    note: Mapped[str | None] = mapped_column(Text)
    # The other fields given with the action, as plain JSON values.
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    # Internal events (notes, supervision) are never shown to the reporter.
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    # The client's Idempotency-Key for the action (phones retry): one event per key.
    idempotency_key: Mapped[str | None] = mapped_column(String(36), unique=True)

    # What the figures count, as plain columns written with the event (never changed):
    # the step clock a status change ran against (on time when at <= step_due_at);
    step: Mapped[str | None] = mapped_column(String(16))
    step_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # when this case last had the same action, the same action with the same result, and
    # any of accept/resolve/close (NULL: never), so that a case counts once in a period,
    # by its one event there whose previous time is NULL or before the period: "cases
    # resolved", "disputes mediated successfully", "disputes handled" need no DISTINCT and
    # add up month by month (server/figures/statistics.py);
    previous_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    previous_result_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    previous_counted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # the case's village and category then (the category is settled at acceptance, before
    # any counted event), and how long after the report this happened;
    village_id: Mapped[int | None] = mapped_column(ForeignKey("village.id"))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"))
    seconds_since_report: Mapped[int | None] = mapped_column(Integer)
    # what the action concluded: a resolve's result code, a close's closing reason, the
    # satisfaction heard at a follow-up.
    result: Mapped[str | None] = mapped_column(String(24))

    case: Mapped[Case] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()


class Photo(db.Model):
    """A photo's metadata; the bytes live in the media storage under `storage_key`."""

    __tablename__ = "photo"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The id in URLs: random, so photo numbers say nothing about volume or neighbours.
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_file.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("case_event.id"))
    storage_key: Mapped[str] = mapped_column(String(80), unique=True)
    thumbnail_key: Mapped[str | None] = mapped_column(String(80))
    content_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case | None] = relationship(back_populates="photos")


class Instruction(db.Model):
    """A leader's written instruction on a case (批示), followed until the center marks
    it carried out (落实). Written and closed only by the workflow (instruct, carry_out),
    each step an event on the timeline."""

    __tablename__ = "instruction"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    text: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    carried_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    carried_out_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    carried_out_note: Mapped[str | None] = mapped_column(String(2000))

    case: Mapped[Case] = relationship(back_populates="instructions")
    author: Mapped[User] = relationship(foreign_keys=[author_id])
    carried_out_by: Mapped[User | None] = relationship(foreign_keys=[carried_out_by_id])
