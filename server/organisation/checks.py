"""What every form of the town's setup checks the same way: a name, a phone, a code."""

from __future__ import annotations

import re
import unicodedata

from server.infra.errors import ValidationFailed


def checked_name(value: str, field: str, limit: int = 64) -> str:
    value = (value or "").strip()
    if not value or len(value) > limit:
        raise ValidationFailed(
            f"请填写{field}（最多{limit}字）。", code="invalid_field", field=field
        )
    return value


# A phone as people write it: a mobile (138 0013 8000, +86 138…), a landline with its
# area code and extension (0571-8888 6666转123, (0571)88886666), a hotline (12345, 110). Full-
# width digits and brackets from a Chinese keyboard are read as their ASCII forms (NFKC).
_PHONE = re.compile(r"\+?[0-9 ()\-]+(?:转[0-9]+)?")
PHONE_MOST = 32
PHONE_DIGITS = (3, 20)


def checked_phone(value: str | None, field: str = "phone") -> str | None:
    """`value` as a phone number (NFKC, trimmed), or None when blank; a clear refusal when
    it is not one (a name typed into the phone box would otherwise be kept, sealed and
    never found by a search for the number)."""
    value = unicodedata.normalize("NFKC", value or "").strip()
    if not value:
        return None
    if len(value) > PHONE_MOST:
        raise ValidationFailed(f"电话最多{PHONE_MOST}位。", code="too_long", field=field)
    digits = sum(c.isdigit() for c in value)
    fewest, most = PHONE_DIGITS
    if not _PHONE.fullmatch(value) or not fewest <= digits <= most:
        raise ValidationFailed(
            "电话号码请填写数字，可含空格、“-”或区号括号，如 13800138000、0571-88886666。",
            code="invalid_phone",
            field=field,
        )
    return value


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
