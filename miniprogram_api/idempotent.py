"""The Idempotency-Key header on phone writes (see `server.idempotency`).

A retry with the same key gets the first answer (`Idempotent-Replayed: true`); the same
key on another request gets 422; a missing or malformed key gets 400; the same request
still being worked on gets 409. 4xx answers of the work are kept and replayed like
successes (the same request would fail the same way); 5xx answers are forgotten so a
retry can succeed. The body is parsed before the key is claimed (a malformed body is
refused the same way every time, and parsing need not hold SQLite's write lock).
"""

from __future__ import annotations

import functools
import uuid

from flask import Response, g, request
from werkzeug.exceptions import HTTPException

from miniprogram_api.api import current_user, domain_error_response, http_error_response
from server import idempotency
from server.errors import DomainError
from server.extensions import db
from server.idempotency import Claim

HEADER = "Idempotency-Key"
PARAMETER = {
    "in": "header", "name": HEADER, "required": True,
    "description": "客户端生成的 UUID；重试时使用同一个，保证不会重复提交。",
    "schema": {"type": "string", "format": "uuid"},
}


def _key() -> str:
    raw = request.headers.get(HEADER)
    if raw is None:
        raise DomainError("缺少 Idempotency-Key 请求头。", code="idempotency_key_missing")
    try:
        return str(uuid.UUID(raw.strip()))
    except ValueError:
        raise DomainError("Idempotency-Key 须为 UUID。", code="idempotency_key_invalid") from None


def idempotent(view):
    """Make a writing view safe to retry; it must not commit (this commits)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = _key()
        digest = idempotency.fingerprint(request.method, request.path, request.get_data())
        outcome = idempotency.claim(f"user:{current_user().id}", key, digest)
        if outcome.claim is Claim.MISMATCH:
            raise DomainError("此 Idempotency-Key 已用于另一个请求。",
                              code="idempotency_key_reused", http_status=422)
        if outcome.claim is Claim.IN_FLIGHT:
            raise DomainError("同一请求正在处理中，请稍后重试。", code="request_in_flight",
                              http_status=409)
        if outcome.claim is Claim.REPLAY:
            record = outcome.record
            response = Response(record.body, status=record.status_code,
                                mimetype="application/json")
            response.headers["Idempotent-Replayed"] = "true"
            return response

        g.idempotency_key = key
        record = outcome.record
        try:
            response = view(*args, **kwargs)
        except DomainError as error:
            db.session.rollback()
            response = domain_error_response(error)
        except HTTPException as error:
            if (error.code or 500) >= 500:
                idempotency.release(record)
                raise
            db.session.rollback()
            response = http_error_response(error)
        except Exception:
            idempotency.release(record)
            raise
        if response.status_code >= 500:
            idempotency.release(record)
            return response
        idempotency.complete(record, response.status_code, response.get_data(as_text=True))
        db.session.commit()
        return response

    return wrapper
