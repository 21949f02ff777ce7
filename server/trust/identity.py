"""An informant's identity at rest: sealed with a key the database never holds.

The reporter's name, phone and WeChat id are written encrypted (Fernet: AES-128-CBC with
an HMAC-SHA256, from `cryptography`, the field's well-kept library), so a copy of the
database, a backup or its file's bytes holds no name or phone; only the app, given
IDENTITY_KEYS from the environment, can read them, and only the center is shown them
(server/cases/access.py, audited).

Rotation: put a new key first in IDENTITY_KEYS (keys are comma-separated; the first seals,
every one unseals), run `grid-report identity reseal` to seal every identity with it, then
drop the old key. In development and tests, without IDENTITY_KEYS, a key is derived from
SECRET_KEY; production refuses to start without IDENTITY_KEYS (server/config.py).
"""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy import select, update

from server.db import db
from server.infra import clock
from server.models import Case, CaseStatus
from server.trust import audit

PREFIX = "f1:"  # what a sealed value starts with (an unsealed one from before never does)


def derived_key(secret: str) -> str:
    """A Fernet key derived from SECRET_KEY, for development and tests only."""
    digest = hashlib.sha256(f"grid-report identity v1:{secret}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


@cache
def _fernet(keys: str) -> MultiFernet:
    return MultiFernet([Fernet(k.strip().encode()) for k in keys.split(",") if k.strip()])


def _keys() -> MultiFernet:
    config = current_app.config
    return _fernet(str(config["IDENTITY_KEYS"] or derived_key(str(config["SECRET_KEY"]))))


def seal(value: str | None) -> str | None:
    """`value` encrypted for the database (None stays None)."""
    if value is None:
        return None
    return PREFIX + _keys().encrypt(value.encode()).decode()


def unseal(value: str | None) -> str | None:
    """A sealed value read back (a value from before sealing is returned as it is)."""
    if value is None or not value.startswith(PREFIX):
        return value
    try:
        return _keys().decrypt(value[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        return "（无法解密：密钥不符）"


FIELDS = ("reporter_name", "reporter_phone", "reporter_wechat")


def reseal(batch: int = 500) -> int:
    """Seal every identity with the first key (after a rotation, or values from before
    sealing); how many cases were rewritten."""
    done, after = 0, 0
    while True:
        cases = db.session.scalars(
            select(Case)
            .where(Case.id > after, Case.reporter_anonymous.is_(False))
            .order_by(Case.id)
            .limit(batch)
        ).all()
        if not cases:
            return done
        for case in cases:
            for name in FIELDS:
                plain = unseal(getattr(case, name))
                setattr(case, name, seal(plain))
            done, after = done + 1, case.id
        db.session.commit()


def purge(retention_days: int) -> int:
    """Forget the identity of informants whose case ended more than `retention_days`
    ago (the town's archive rule); how many. The case keeps that it was named."""
    cutoff = clock.now() - timedelta(days=retention_days)
    ended = [CaseStatus.CLOSED, CaseStatus.REJECTED, CaseStatus.MERGED]
    ids = db.session.scalars(
        select(Case.id).where(
            Case.reporter_anonymous.is_(False),
            Case.status.in_(ended),
            Case.updated_at < cutoff,
            Case.reporter_name.is_not(None)
            | Case.reporter_phone.is_not(None)
            | Case.reporter_wechat.is_not(None),
        )
    ).all()
    if ids:
        db.session.execute(
            update(Case)
            .where(Case.id.in_(ids))
            .values(reporter_name=None, reporter_phone=None, reporter_wechat=None)
        )
        audit.record(
            "identity.purged",
            actor=None,
            object_type="case",
            count=len(ids),
            retention_days=retention_days,
        )
    return len(ids)
