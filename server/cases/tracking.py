"""A villager's tracking code: the private link to follow an (anonymous) report.

The secret is 128 random-looking bits, derived from the report's idempotency key with a
server key, so a resend of the same form can show the same code again; the database
keeps only its sha256 and a hash of the key, so nothing stored leads back to it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from flask import current_app
from sqlalchemy import select

from server.db import db
from server.infra import codes
from server.models import Case

SECRET_LENGTH = 26  # 130 bits of Crockford base32 (the first 128 are the HMAC's)
_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", codes.ALPHABET)


def _key() -> bytes:
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, b"grid-report tracking v1", hashlib.sha256).digest()


def secret_for(idempotency_key: str) -> str:
    """The tracking secret for the report submitted with `idempotency_key`."""
    digest = hmac.new(_key(), idempotency_key.encode(), hashlib.sha256).digest()[:16]
    return base64.b32encode(digest).decode().rstrip("=").translate(_CROCKFORD)[:SECRET_LENGTH]


def key_hash(idempotency_key: str) -> str:
    """What the case row keeps of a villager's idempotency key (fits its 36 characters)."""
    return "q:" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:34]


def secret_hash(secret: str) -> str:
    """What the case row keeps of the tracking secret."""
    return hashlib.sha256(codes.normalise(secret).encode()).hexdigest()


def find(secret: str) -> Case | None:
    """The case behind a tracking secret (as typed or linked), or None."""
    cleaned = codes.normalise(secret or "")
    if len(cleaned) != SECRET_LENGTH:
        return None
    return db.session.scalar(select(Case).where(Case.tracking_hash == secret_hash(cleaned)))


def display(secret: str) -> str:
    """The secret in groups, as the villager writes it down."""
    return codes.display(secret)
