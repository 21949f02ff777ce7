"""The Idempotency-Key header on phone writes (see `server.trust.idempotency`).

A retry with the same key gets the first answer (`Idempotent-Replayed: true`); the same
key on another request gets 422; a missing or malformed key gets 400; a retry sent while
the first is still being worked on gets 409 (its key is held in the shared store). 4xx
answers of the work are kept and replayed like successes (the same request would fail the
same way); 5xx answers are forgotten so a retry can succeed. The key and its answer are
written in the work's own unit of work (a refusal's work is rolled back, its answer kept).
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid

from flask import Response, g, request
from werkzeug.exceptions import HTTPException

from miniprogram_api.api import (
    current_user,
    domain_error_response,
    http_error_response,
)
from server.db import unit
from server.infra.errors import DomainError
from server.trust import idempotency
from server.trust.idempotency import Claim

HEADER = "Idempotency-Key"
PARAMETER = {
    "in": "header",
    "name": HEADER,
    "required": True,
    "description": "客户端生成的 UUID；重试时使用同一个，保证不会重复提交。",
    "schema": {"type": "string", "format": "uuid"},
}
# On uploads, which older clients send without one.
OPTIONAL = PARAMETER | {
    "required": False,
    "description": "客户端生成的 UUID（建议提供）；重试时使用同一个，同一文件不会存两份。",
}


def _key() -> str:
    raw = request.headers.get(HEADER)
    if raw is None:
        raise DomainError("缺少 Idempotency-Key 请求头。", code="idempotency_key_missing")
    try:
        return str(uuid.UUID(raw.strip()))
    except ValueError:
        raise DomainError("Idempotency-Key 须为 UUID。", code="idempotency_key_invalid") from None


def _body() -> bytes:
    """What the request's fingerprint is made from: its body, and for a multipart upload
    its fields and each file's digest (a resent FormData has a new boundary each time,
    and its parts are parsed already, so its raw body is gone)."""
    if request.mimetype != "multipart/form-data":
        return request.get_data()
    files = []
    for name, upload in request.files.items(multi=True):
        digest = hashlib.sha256()
        for chunk in iter(lambda upload=upload: upload.stream.read(1 << 20), b""):
            digest.update(chunk)
        upload.stream.seek(0)  # the view reads it next
        files.append([name, digest.hexdigest()])
    form = sorted([name, value] for name, value in request.form.items(multi=True))
    return json.dumps({"form": form, "files": sorted(files)}).encode()


def _look_up(scope: str, key: str) -> tuple[str, idempotency.Outcome]:
    """This request's fingerprint, and what is known of its key."""
    digest = idempotency.fingerprint(request.method, request.path, _body())
    return digest, idempotency.lookup(scope, key, digest)


def _without_identity(body: str) -> str:
    """The answer as it is kept for a replay: with no informant's name, phone or WeChat
    id (the center's answers carry them). A replay says only whether the report was
    anonymous; the case itself shows the rest to whoever may see it."""
    if '"reporter"' not in body:
        return body
    try:
        answer = json.loads(body)
    except ValueError:
        return body
    if isinstance(answer, dict) and isinstance(answer.get("reporter"), dict):
        answer["reporter"] = {"anonymous": answer["reporter"].get("anonymous", True)}
        return json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
    return body


def _answer_known(outcome: idempotency.Outcome) -> Response:
    """The answer for a key seen before: replayed, refused, or still in flight."""
    if outcome.claim is Claim.MISMATCH:
        raise DomainError(
            "此 Idempotency-Key 已用于另一个请求。", code="idempotency_key_reused", http_status=422
        )
    if outcome.claim is Claim.IN_FLIGHT:
        raise DomainError(
            "同一请求正在处理中，请稍后重试。", code="request_in_flight", http_status=409
        )
    record = outcome.record
    response = Response(record.body, status=record.status_code, mimetype="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    return response


def idempotent(view):
    """Make a writing view safe to retry (its answer is written with its work)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = _key()
        scope = f"user:{current_user().id}"
        digest, outcome = _look_up(scope, key)
        if outcome.claim is not Claim.NEW:
            return _answer_known(outcome)
        if not idempotency.hold(scope, key):
            return _answer_known(idempotency.Outcome(Claim.IN_FLIGHT))
        try:
            return _work(view, outcome, scope, key, digest, *args, **kwargs)
        finally:
            idempotency.release(scope, key)

    return wrapper


def idempotent_if_keyed(view):
    """`idempotent` when the request carries a key; otherwise the view as it is (an
    upload from a client that sends none: a retry stores the file again, to be purged
    unclaimed, media.purge_unclaimed)."""
    keyed = idempotent(view)

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if request.headers.get(HEADER) is None:
            return view(*args, **kwargs)
        return keyed(*args, **kwargs)

    return wrapper


def _work(view, outcome, scope, key, digest, *args, **kwargs) -> Response:
    """Do the work of a new request and add its answer to the same unit of work."""
    g.idempotency_key = key
    try:
        response = view(*args, **kwargs)
    except DomainError as error:
        if not error.keeps_work:
            unit.abandon()  # the work goes; the refusal is the answer a retry gets
        response = domain_error_response(error)
    except HTTPException as error:
        if (error.code or 500) >= 500:
            raise
        unit.abandon()
        response = http_error_response(error)
    if response.status_code >= 500:
        unit.abandon()  # forgotten, so that a retry can succeed
        return response
    try:
        idempotency.record(
            outcome,
            scope,
            key,
            digest,
            response.status_code,
            _without_identity(response.get_data(as_text=True)),
        )
    except idempotency.Taken:
        # The same request, sent again meanwhile, was answered first: its answer stands.
        unit.abandon()
        outcome = idempotency.lookup(scope, key, digest)
        if outcome.claim is Claim.NEW:  # taken, then released: the client retries
            outcome = idempotency.Outcome(Claim.IN_FLIGHT)
        return _answer_known(outcome)
    return response
