"""What search reads besides the case itself: its text as bigram terms, and keyed digests
of the identities it names (server/cases/search.py says why and how).

Both are written with the case's other new rows (server/cases/operations.py). After that
the words only grow, by the term of each department the case is first sent to
(`search.add_departments`), and forgetting or resealing an informant's identity rewrites
the digests (server/trust/identity.py).
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import db
from server.models.base import LabelledEnum, enum_type


class DigestKind(LabelledEnum):
    """Which identity a digest stands for (the informant's are forgotten with them)."""

    REPORTER_NAME = "reporter_name", "举报人姓名"
    REPORTER_PHONE = "reporter_phone", "举报人电话"
    REPORTER_WECHAT = "reporter_wechat", "举报人微信号"
    PARTY_PHONE = "party_phone", "当事人电话"


class CaseSearchText(db.Model):
    """A case's searchable words (description, place, parties' names) as the overlapping
    character bigrams the full-text index holds: SQLite's FTS5 table `case_search_fts`
    (external content, kept by triggers) or PostgreSQL's GIN index over its terms, both
    made by the migration (20261206_2806e34b8edb)."""

    __tablename__ = "case_search"

    case_id: Mapped[int] = mapped_column(
        ForeignKey("case_file.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    # Space-separated terms (never an informant's identity): the village's, the words',
    # then each department's the case was sent to, e.g. "_v7 邻居 居漏 漏水 水 _d3".
    body: Mapped[str] = mapped_column(Text)


class CaseIdentityDigest(db.Model):
    """A keyed hash (HMAC) of a name, phone or WeChat id a case holds, so the center can
    find the case by it while the database keeps nothing that can be read back or
    looked up without the identity key."""

    __tablename__ = "case_identity_digest"
    __table_args__ = (Index("ix_case_identity_digest_digest", "digest", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id", ondelete="CASCADE"), index=True)
    kind: Mapped[DigestKind] = mapped_column(enum_type(DigestKind, "digest_kind"))
    # 128 bits of HMAC-SHA256, hex.
    digest: Mapped[str] = mapped_column(String(32))


# The full-text index itself is made by the migration, in each database's own terms, and
# has no model: SQLite's FTS5 table (with its shadow tables), PostgreSQL's GIN index over
# an expression.
NOT_MODELLED = {"table": "case_search_fts", "index": "ix_case_search_terms"}


def include_name(name: str | None, type_: str, parent_names) -> bool:
    """What Alembic compares with the models (autogenerate, the drift test): all else."""
    unmodelled = NOT_MODELLED.get(type_)
    return not (unmodelled and (name or "").startswith(unmodelled))
