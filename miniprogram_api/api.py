"""The API object, its one error shape, and who is calling.

Every error under /api/v1 answers with the same JSON: a stable machine `code`, a Chinese
`message` a phone can show, and `errors` per field where there are some. No stack trace
or SQL ever reaches a client: an unexpected failure is logged and answered 500 plainly.
"""

from __future__ import annotations

import functools

import flask_smorest
import marshmallow as ma
from flask import Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from server import auth
from server.cases.inputs import translate
from server.infra import nul
from server.infra.errors import (
    DomainError,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMedia,
    ValidationFailed,
)

PREFIX = "/api/v1"


class ErrorSchema(ma.Schema):
    """The error body of every API answer that is not a success."""

    code = ma.fields.String(required=True, metadata={"description": "稳定的错误代码"})
    message = ma.fields.String(required=True, metadata={"description": "可展示给用户的中文说明"})
    errors = ma.fields.Dict(metadata={"description": "按字段的错误"})
    details = ma.fields.Dict(metadata={"description": "补充信息"})


# Chinese messages for HTTP errors raised outside our code (routing, parsing, limits).
_HTTP_MESSAGES = {
    400: ("bad_request", "请求格式有误。"),
    401: ("unauthorized", "请先登录。"),
    403: ("forbidden", "您没有权限执行此操作。"),
    404: ("not_found", "找不到请求的内容。"),
    405: ("method_not_allowed", "不支持此请求方法。"),
    406: ("not_acceptable", "不支持请求的返回格式。"),
    409: ("conflict", "请求与当前状态冲突。"),
    413: ("payload_too_large", "上传的内容过大。"),
    415: ("unsupported_media_type", "不支持的内容类型。"),
    422: ("validation_failed", "填写的内容有误。"),
    429: ("too_many_requests", "操作过于频繁，请稍后再试。"),
    500: ("internal_error", "服务器出错了，请稍后再试。"),
}


def error_body(
    code: str, message: str, errors: dict | None = None, details: dict | None = None
) -> dict:
    """The one error shape."""
    body = {"code": code, "message": message}
    if errors:
        body["errors"] = errors
    if details:
        body["details"] = details
    return body


def domain_error_response(error: DomainError) -> Response:
    """A DomainError as an API answer."""
    details = dict(error.details)
    errors = None
    if "field" in details:
        errors = {details["field"]: [error.message]}
    response = jsonify(error_body(error.code, error.message, errors, details or None))
    response.status_code = error.http_status
    if "retry_after" in details:
        response.headers["Retry-After"] = str(details["retry_after"])
    return response


def http_error_response(error: HTTPException) -> Response:
    """An HTTPException (routing, parsing, size limits, crashes) as an API answer."""
    status = error.code or 500
    code, message = _HTTP_MESSAGES.get(status, ("http_error", "请求无法处理。"))
    data = getattr(error, "data", None) or {}
    errors = None
    if "messages" in data:  # webargs: {"json": {"field": ["..."]}, "query": {...}}
        errors = {}
        for location, messages in data["messages"].items():
            if isinstance(messages, dict):
                errors.update(translate(messages))
            else:  # about the whole body, e.g. "Invalid JSON body."
                errors[f"_{location}"] = translate(messages)
    response = jsonify(error_body(code, data.get("message", message), errors))
    response.status_code = status
    # Keep what the exception says about itself (Allow on 405, WWW-Authenticate, ...).
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    for name, value in (data.get("headers") or {}).items():
        response.headers[name] = value
    return response


class Api(flask_smorest.Api):
    """flask-smorest's Api with our error shape, for API paths only."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error):
        if not request.path.startswith(PREFIX):
            # The admin answers its own; any other address gets the public surface's
            # page in Chinese (villager.views.http_error_page), when it is served.
            page = current_app.extensions.get("html_error_page")
            return page(error) if page is not None else error
        return http_error_response(error)


SPEC_INFO = {"description": "网格事件上报与矛盾纠纷调处：小程序接口。时间一律为带时区的 ISO 8601。"}


def handle_domain_error(error: DomainError):
    """DomainErrors as JSON (the HTML surfaces register their own on their blueprints)."""
    return domain_error_response(error)


def current_user():
    """The signed-in user of this request (set by `login_required`)."""
    return g.user


def login_required(view):
    """Require a valid bearer token; the user is then `current_user()`."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("请先登录。", code="token_missing")
        g.user = auth.user_from_token(token.strip())
        return view(*args, **kwargs)

    return wrapper


def require_body_type(*mimetypes: str):
    """A before_request hook: writes must send one of `mimetypes` (else 415)."""

    def check():
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        if limit and (request.content_length or 0) > limit:
            # Refuse before reading: parsers would otherwise stop quietly at the limit.
            raise PayloadTooLarge(f"请求内容过大（最多 {limit // 1024 // 1024} MB）。")
        if (
            request.method in {"POST", "PUT", "PATCH"}
            and request.mimetype not in mimetypes
            and not (_bodyless() and not request.content_length)
        ):
            raise UnsupportedMedia(
                f"请求体类型须为 {' 或 '.join(mimetypes)}。", code="unsupported_media_type"
            )
        if nul.in_request(request) or (  # server/infra/nul.py says why
            request.mimetype == "application/json" and nul.in_json(request.get_data())
        ):
            raise ValidationFailed("内容不能包含空字符（NUL）。", code="nul_character")

    return check


def _bodyless() -> bool:
    """Whether the view asked takes no body at all (a MethodView with `bodyless = True`,
    such as sign-out): a write without one then has no type to check."""
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(getattr(view, "view_class", None), "bodyless", False))


def client_ip() -> str | None:
    """The caller's address as our proxy (nginx) saw it."""
    return request.remote_addr
