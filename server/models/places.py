"""The town, its villages and the grids inside them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, or_, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import db
from server.infra import codes
from server.models.base import UTCDateTime, utcnow


class Town(db.Model):
    """The township government running the system (镇)."""

    __tablename__ = "town"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # The number villagers are told to call (shown on posters and pages).
    hotline: Mapped[str | None] = mapped_column(String(32))
    # The character its papers' numbers carry (〔2026〕大调字第15号: 文号简称), where it is
    # not the first of its name (server/casefile/numbering.py).
    document_prefix: Mapped[str | None] = mapped_column(String(4))

    villages: Mapped[list[Village]] = relationship(back_populates="town", order_by="Village.code")


def _new_qr_token() -> str:
    return codes.new_token()


class Village(db.Model):
    """An administrative village (行政村): owns a QR code and a screening duty."""

    __tablename__ = "village"

    id: Mapped[int] = mapped_column(primary_key=True)
    town_id: Mapped[int] = mapped_column(ForeignKey("town.id"), index=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    # What the village's QR code points at (/q/<token>): unguessable, so codes cannot be
    # enumerated, and replaceable when a poster is defaced or abused.
    qr_token: Mapped[str] = mapped_column(String(32), unique=True, default=_new_qr_token)
    # A village merged away or no longer served: kept for its cases and figures, gone from
    # pickers, posters and the screening duty; its QR code says so.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # When it stopped being served: the screening duty of periods before still counts it.
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    town: Mapped[Town] = relationship(back_populates="villages")
    grids: Mapped[list[Grid]] = relationship(back_populates="village", order_by="Grid.code")

    @property
    def grids_in_use(self) -> list[Grid]:
        return [g for g in self.grids if g.active]

    def __repr__(self) -> str:
        return f"<Village {self.code} {self.name}>"


class RetiredQrToken(db.Model):
    """A village's former QR token: its URL now says "this code has been replaced" (410)."""

    __tablename__ = "retired_qr_token"

    token: Mapped[str] = mapped_column(String(32), primary_key=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("village.id"), index=True)
    retired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    village: Mapped[Village] = relationship()


class Grid(db.Model):
    """A patch of a village looked after by one grid worker (网格)."""

    __tablename__ = "grid"

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("village.id"), index=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    # A grid redrawn away: kept for its cases, gone from pickers.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    village: Mapped[Village] = relationship(back_populates="grids")


class Screening(db.Model):
    """A village's regular sweep for disputes and hazards (排查), filed by a grid worker.

    Each finding becomes a case linked here; a screening with none is a nil return (零报告)
    and counts just the same.
    """

    __tablename__ = "screening"
    __table_args__ = (Index("ix_screening_village_at", "village_id", "screened_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("village.id"))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    screened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The category codes looked at (the checklist), and whether anything was found.
    checked: Mapped[list] = mapped_column(JSON, default=list)
    nil_return: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    idempotency_key: Mapped[str | None] = mapped_column(String(36), unique=True)

    village: Mapped[Village] = relationship()


def in_service_since(moment: datetime):
    """A WHERE clause: villages still served at `moment` (active, or retired after it),
    whose screening duty a period from `moment` on counts."""
    return or_(Village.active.is_(True), Village.deactivated_at > moment)
