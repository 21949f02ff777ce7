"""The case file's rows (案卷, 一案一卷): mediation documents made from templates, the
agreement's terms, signed scans, the numbers given out per year, and the archive entry.
Numbers are a town's own: each town of a district counts its papers and its archive from
1 each year, as its office always has."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import db
from server.models.base import LabelledEnum, UTCDateTime, enum_type, utcnow
from server.models.cases import Case
from server.models.organisation import User


class DocumentKind(LabelledEnum):
    """The papers of people's mediation (司法部人民调解文书格式), in the order of a case."""

    APPLICATION = "application", "人民调解申请书"
    RIGHTS_NOTICE = "rights_notice", "人民调解权利义务告知书"
    SESSION_RECORD = "session_record", "人民调解笔录"
    AGREEMENT = "agreement", "人民调解协议书"
    VISIT_RECORD = "visit_record", "人民调解回访记录"
    CONFIRMATION = "confirmation", "司法确认申请书"


class Retention(LabelledEnum):
    """How long an archived case file is kept (保管期限): see server/casefile/archive.py."""

    LONG = "long", "长期"
    SHORT = "short", "短期"


class NumberCounter(db.Model):
    """The last number a town gave out for one kind of paper in one year (文号): taken by
    one INSERT ... ON CONFLICT DO UPDATE, so two mediators never get the same number."""

    __tablename__ = "number_counter"

    town_id: Mapped[int] = mapped_column(ForeignKey("town.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    # A document kind, or "archive" for the case files' own numbers (卷号).
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, nullable=False)


class CaseDocument(db.Model):
    """One mediation paper of a case, filled from the case and edited by the mediator.

    `content` keeps the fields of its kind (server/casefile/documents.py); the number is
    given when it is made and never changes.
    """

    __tablename__ = "case_document"
    __table_args__ = (
        UniqueConstraint("town_id", "kind", "year", "serial", name="uq_case_document_number"),
        CheckConstraint("serial >= 1", name="serial_positive"),
        # Agreements signed in a window (the judicial-confirmation reminder, in the sweep).
        Index("ix_case_document_kind_signed", "kind", "signed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id"), index=True)
    # The case's town, whose number the paper carries (numbers are per town).
    town_id: Mapped[int] = mapped_column(ForeignKey("town.id"))
    kind: Mapped[DocumentKind] = mapped_column(enum_type(DocumentKind, "document_kind"))
    year: Mapped[int] = mapped_column(Integer)
    serial: Mapped[int] = mapped_column(Integer)
    # As printed: 〔2026〕大调字第15号.
    number: Mapped[str] = mapped_column(String(40))
    content: Mapped[dict] = mapped_column(JSON, default=dict)
    # An agreement's signing (it takes effect when signed): the 30-day window for judicial
    # confirmation (司法确认) runs from it.
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}

    case: Mapped[Case] = relationship()
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    updated_by: Mapped[User | None] = relationship(foreign_keys=[updated_by_id])
    terms: Mapped[list[AgreementTerm]] = relationship(
        back_populates="document", cascade="all, delete-orphan", order_by="AgreementTerm.position"
    )
    scans: Mapped[list[DocumentScan]] = relationship(
        back_populates="document", order_by="DocumentScan.id"
    )


class AgreementTerm(db.Model):
    """One term of a mediation agreement: what is to be done, how and by when, and whether
    the follow-up visit (回访) found it kept."""

    __tablename__ = "agreement_term"
    __table_args__ = (
        UniqueConstraint("document_id", "position", name="uq_agreement_term_position"),
        CheckConstraint("(kept IS NULL) = (checked_at IS NULL)", name="kept_iff_checked"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(
        ForeignKey("case_document.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(500))
    # How it is performed (履行方式): 一次性现金支付, 分期转账, 当场履行, ...
    performance: Mapped[str | None] = mapped_column(String(200))
    due_on: Mapped[date | None] = mapped_column(Date)
    kept: Mapped[bool | None] = mapped_column(Boolean)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    document: Mapped[CaseDocument] = relationship(back_populates="terms")


class DocumentScan(db.Model):
    """The signed paper scanned back (a photo re-encoded, or a PDF kept as sent); the
    bytes live in the media storage."""

    __tablename__ = "document_scan"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("case_document.id"), index=True)
    storage_key: Mapped[str] = mapped_column(String(80), unique=True)
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    document: Mapped[CaseDocument] = relationship(back_populates="scans")
    uploaded_by: Mapped[User] = relationship()


class CaseArchive(db.Model):
    """A closed case filed in the archive (归档) with its number for the year (卷号) and how
    long it is kept. A reopened and closed-again case keeps its number."""

    __tablename__ = "case_archive"
    __table_args__ = (UniqueConstraint("town_id", "year", "serial", name="uq_case_archive_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id"), unique=True)
    town_id: Mapped[int] = mapped_column(ForeignKey("town.id"))  # the case's: its numbers
    year: Mapped[int] = mapped_column(Integer)
    serial: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(40))
    retention: Mapped[Retention] = mapped_column(enum_type(Retention, "retention"))
    archived_at: Mapped[datetime] = mapped_column(UTCDateTime)
    archived_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # Kept as text: the case file's cover names why it is kept so long.
    note: Mapped[str | None] = mapped_column(Text)

    case: Mapped[Case] = relationship()
    archived_by: Mapped[User | None] = relationship()
