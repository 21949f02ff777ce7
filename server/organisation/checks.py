"""What every form of the town's setup checks the same way: a name, a phone, a code."""

from __future__ import annotations

from server.infra.errors import ValidationFailed


def checked_name(value: str, field: str, limit: int = 64) -> str:
    value = (value or "").strip()
    if not value or len(value) > limit:
        raise ValidationFailed(
            f"请填写{field}（最多{limit}字）。", code="invalid_field", field=field
        )
    return value


def checked_phone(value: str | None) -> str | None:
    value = (value or "").strip()
    if len(value) > 32:
        raise ValidationFailed("电话最多32位。", code="invalid_field", field="phone")
    return value or None


def checked_code(value: str, field: str, limit: int = 16) -> str:
    value = (value or "").strip()
    if (
        not value
        or len(value) > limit
        or not all(c.isascii() and (c.isalnum() or c in "-_") for c in value)
    ):
        raise ValidationFailed(
            f"{field}须为{limit}位以内的字母、数字或连字符。", code="invalid_field", field=field
        )
    return value
