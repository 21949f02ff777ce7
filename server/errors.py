"""Domain errors: a stable code for programs and a Chinese message for people.

The HTTP surfaces map them to status codes (`http_status`); the core never speaks HTTP.
"""

from __future__ import annotations


class DomainError(Exception):
    """A request the rules refuse. Nothing has been written when one is raised."""

    code = "domain_error"
    http_status = 400
    default_message = "请求无法处理。"

    def __init__(self, message: str | None = None, *, code: str | None = None, **details):
        self.message = message or self.default_message
        if code:
            self.code = code
        self.details = details
        super().__init__(self.message)

    def to_dict(self) -> dict:
        """The error as the API answers it."""
        body = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class NotFound(DomainError):
    code = "not_found"
    http_status = 404
    default_message = "找不到该记录。"


class Forbidden(DomainError):
    code = "forbidden"
    http_status = 403
    default_message = "您没有权限执行此操作。"


class InvalidTransition(DomainError):
    code = "invalid_transition"
    http_status = 409
    default_message = "案件当前状态不允许此操作。"


class StaleCase(DomainError):
    code = "stale_case"
    http_status = 409
    default_message = "案件已被他人更新，请刷新后查看最新状态。"


class ValidationFailed(DomainError):
    code = "validation_failed"
    http_status = 422
    default_message = "填写的内容有误。"
