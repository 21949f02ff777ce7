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

Matching without reading: the center finds a case by a phone, name or WeChat id through a
keyed hash (`digest`, HMAC-SHA256 under a key derived from each identity key), kept in
`case_identity_digest`. Without the key a digest cannot be reversed, not even by trying
every phone number. A search looks under every key, so a rotation loses nothing before
`reseal` has rewritten the digests with the first.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import unicodedata
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy import delete, insert, select, text, update

from server.db import db
from server.infra import clock
from server.models import Case, CaseIdentityDigest, CaseParty, DigestKind
from server.models.cases import IDENTITY_HELD
from server.trust import audit

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

PREFIX = "f1:"  # what a sealed value starts with (an unsealed one from before never does)


def derived_key(secret: str) -> str:
    """A Fernet key derived from SECRET_KEY, for development and tests only."""
    digest = hashlib.sha256(f"grid-report identity v1:{secret}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


@cache
def _fernet(keys: str) -> MultiFernet:
    # Here: cryptography (its own OpenSSL, 9 MiB) loads with a worker's first identity.
    from cryptography.fernet import Fernet, MultiFernet

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
    keys = _keys()
    from cryptography.fernet import InvalidToken  # loaded by _keys() (see _fernet)

    try:
        return keys.decrypt(value[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        return "（无法解密：密钥不符）"


FIELDS = ("reporter_name", "reporter_phone", "reporter_wechat")
# What each digest kind is compared as: one phone matches an informant's and a party's.
DOMAIN = {
    DigestKind.REPORTER_NAME: "name",
    DigestKind.REPORTER_PHONE: "phone",
    DigestKind.REPORTER_WECHAT: "wechat",
    DigestKind.PARTY_PHONE: "phone",
}
REPORTER_KINDS = dict(zip(FIELDS, list(DigestKind)[:3], strict=True))
_NOT_IN_A_NAME = re.compile(r"[\s·•．.、,，()（）\-—_]+")


def normalised(domain: str, value: str | None) -> str | None:
    """`value` as compared: a phone's digits without +86 or 0086, a name without spaces
    or separators, in NFKC and lower case; None when nothing is left."""
    text = unicodedata.normalize("NFKC", value or "").strip().lower()
    if domain == "phone":
        text = re.sub(r"\D", "", text)
        for prefix in ("0086", "86"):
            if len(text) == 11 + len(prefix) and text.startswith(prefix):
                text = text[len(prefix) :]
    elif domain == "name":
        text = _NOT_IN_A_NAME.sub("", text)
    return text or None


@cache
def _match_keys(keys: str) -> tuple[bytes, ...]:
    return tuple(
        hmac.new(k.strip().encode(), b"grid-report identity match v1", hashlib.sha256).digest()
        for k in keys.split(",")
        if k.strip()
    )


def _keyed(key: bytes, domain: str, value: str) -> str:
    return hmac.new(key, f"{domain}:{value}".encode(), hashlib.sha256).hexdigest()[:32]


def digest(domain: str, value: str | None) -> str | None:
    """The keyed hash kept of `value` (a "phone", "name" or "wechat"), or None."""
    value = normalised(domain, value)
    if value is None:
        return None
    config = current_app.config
    keys = str(config["IDENTITY_KEYS"] or derived_key(str(config["SECRET_KEY"])))
    return _keyed(_match_keys(keys)[0], domain, value)


def digests(domain: str, value: str | None) -> list[str]:
    """`value`'s keyed hash under every identity key, for looking it up."""
    value = normalised(domain, value)
    if value is None:
        return []
    config = current_app.config
    keys = str(config["IDENTITY_KEYS"] or derived_key(str(config["SECRET_KEY"])))
    return [_keyed(key, domain, value) for key in _match_keys(keys)]


def digest_rows(case_id: int, reporter: dict, party_phones: list[str | None]) -> list[dict]:
    """The `case_identity_digest` rows of a case: its informant's name, phone and WeChat
    id (`reporter`, by field, in the clear) and its parties' phones."""
    pairs = [(REPORTER_KINDS[field], value) for field, value in reporter.items()]
    pairs += [(DigestKind.PARTY_PHONE, phone) for phone in party_phones]
    rows = []
    for kind, value in pairs:
        hashed = digest(DOMAIN[kind], value)
        if hashed is not None:
            rows.append({"case_id": case_id, "kind": kind, "digest": hashed})
    return rows


def reseal(batch: int = 500) -> int:
    """Seal every identity with the first key (after a rotation, or values from before
    sealing), and make its digests anew; how many cases were rewritten."""
    done, after = 0, 0
    while True:
        cases = db.session.scalars(
            select(Case)
            .where(
                Case.id > after,
                Case.reporter_anonymous.is_(False)
                | Case.id.in_(select(CaseParty.case_id).where(CaseParty.phone.is_not(None))),
            )
            .order_by(Case.id)
            .limit(batch)
        ).all()
        if not cases:
            return done
        ids = [case.id for case in cases]
        # The digests too are made anew under the first key.
        db.session.execute(delete(CaseIdentityDigest).where(CaseIdentityDigest.case_id.in_(ids)))
        phones: dict[int, list[str | None]] = {}
        for case_id, phone in db.session.execute(
            select(CaseParty.case_id, CaseParty.phone).where(CaseParty.case_id.in_(ids))
        ):
            phones.setdefault(case_id, []).append(phone)
        rows = []
        for case in cases:
            plain = {name: unseal(getattr(case, name)) for name in FIELDS}
            for name, value in plain.items():
                setattr(case, name, seal(value))
            rows += digest_rows(case.id, plain, phones.get(case.id, []))
            done, after = done + 1, case.id
        if rows:
            db.session.execute(insert(CaseIdentityDigest), rows)
        db.session.commit()


# The most identities one purge forgets. The sweep purges every minute, so a day's
# ended cases are a handful; but a deployment that upgrades onto years of cases, or
# shortens its retention, finds millions due at once: at ten million cases the first
# purge named 2,085,724 ids in one statement, past PostgreSQL's 65,535 parameters, and
# failed the whole sweep (benchmarks/bench_sweep.py). A batch a run clears such a backlog
# over the following minutes, each statement small.
PURGE_BATCH = 5000


def purge(retention_days: int, *, batch: int = PURGE_BATCH) -> int:
    """Forget the identity of informants whose case ended more than `retention_days`
    ago (the town's archive rule), at most `batch` of them; how many. The case keeps
    that it was named."""
    cutoff = clock.now() - timedelta(days=retention_days)
    # Read from the partial index of cases that still hold an identity (its words, as
    # literal SQL), so the anonymous and already forgotten rest is never read: no other
    # index matches these conditions. An ended case is one with no clock (a database check
    # says so), and an anonymous one holds no identity (another check).
    ids = db.session.scalars(
        select(Case.id)
        .where(text(IDENTITY_HELD), Case.updated_at < cutoff, Case.due_at.is_(None))
        .limit(batch)
    ).all()
    if ids:
        db.session.execute(
            update(Case)
            .where(Case.id.in_(ids))
            .values(reporter_name=None, reporter_phone=None, reporter_wechat=None)
        )
        # Nor can the center find the case by them any more (parties' phones stay).
        db.session.execute(
            delete(CaseIdentityDigest).where(
                CaseIdentityDigest.case_id.in_(ids),
                CaseIdentityDigest.kind.in_(list(REPORTER_KINDS.values())),
            )
        )
        audit.record(
            "identity.purged",
            actor=None,
            object_type="case",
            count=len(ids),
            retention_days=retention_days,
        )
    return len(ids)
