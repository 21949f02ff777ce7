"""NUL characters in a request.

No text column takes one: PostgreSQL refuses it (a 500 on any statement that carries it,
a lookup included) and SQLite stores it silently. Each surface refuses a request that
carries one, wherever it is, before a view reads it: the path, the query, a form's fields
(every value of a repeated field, not only the first) and the JSON API's body.
"""

from __future__ import annotations

from flask import Request


def in_json(body: bytes) -> bool:
    """Whether a JSON body carries a NUL character, raw or escaped."""
    return b"\x00" in body or b"\\u0000" in body.lower()


def in_request(request: Request) -> bool:
    """Whether the path, the query or a form field of `request` carries a NUL character
    (a JSON body is the API's to check: `in_json`)."""
    if "\x00" in request.path:
        return True
    if any("\x00" in value for _key, value in request.args.items(multi=True)):
        return True
    return request.method == "POST" and any(
        "\x00" in value for _key, value in request.form.items(multi=True)
    )
