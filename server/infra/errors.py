"""Domain errors: a stable code for programs and a Chinese message for people.

The HTTP surfaces map them to status codes (`http_status`); the core never speaks HTTP.
"""

from __future__ import annotations


class DomainError(Exception):
    """A request the rules refuse. What the request did is rolled back (server/db/unit.py),
    unless the refusal is itself on record (`keeps_work`)."""

    code = "domain_error"
    http_status = 400
    default_message = "请求无法处理。"
    # True for a refusal whose writes must stand: a failed sign-in counts against the
    # next try, and is on the audit log.
    keeps_work = False

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        http_status: int | None = None,
        **details,
    ):
        self.message = message or self.default_message
        if code:
            self.code = code
        if http_status:
            self.http_status = http_status
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


class Unauthorized(DomainError):
    code = "unauthorized"
    http_status = 401
    default_message = "请先登录。"


class TooManyRequests(DomainError):
    code = "too_many_requests"
    http_status = 429
    default_message = "操作过于频繁，请稍后再试。"


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    http_status = 413
    default_message = "上传的内容过大。"


class UnsupportedMedia(DomainError):
    code = "unsupported_media_type"
    http_status = 415
    default_message = "不支持的文件类型，请上传 JPEG、PNG 或 WebP 图片。"


class ServiceUnavailable(DomainError):
    code = "service_unavailable"
    http_status = 503
    default_message = "服务暂时不可用，请稍后再试。"


class StorageFull(ServiceUnavailable):
    """The server's disk is full: nothing was saved (the database or a photo)."""

    code = "storage_full"
    default_message = "服务器存储空间已满，这次没有保存成功。请稍后再试；紧急情况请拨打 110 / 119。"


class Conflict(DomainError):
    code = "conflict"
    http_status = 409
    default_message = "与现有记录冲突。"
