"""How long, how many, how large: every bound on what people send about a case, written
once. The input schemas (server/cases/inputs.py) refuse at the edge what the core
(operations, the workflow's fields) refuses again with the same number, for the callers
that have no edge (the CLI, the demo)."""

TEXT = 2000  # a description, a reason, a result, a note
PLACE = 200  # Case.place_text
NAME = 64  # a reporter's or a party's name
PHONE = 32
WECHAT = 64
CATEGORY_CODE = 16
CASE_CODE = 20  # a case number as typed (with its separators)
PEOPLE = 100_000  # people involved
PARTIES = 20
PHOTOS = 9
CO_DEPARTMENTS = 10
NOTE = 500  # a screening's note
TERMS = 30  # terms of one mediation agreement
# The largest id every database's INTEGER holds: a larger one is no row, and PostgreSQL
# refuses to compare with it.
ID = 2**31 - 1


def id_number(raw: str | None) -> int | None:
    """`raw` as a row's id, or None: ASCII digits only ("²".isdigit() is true, and
    int("²") fails) and no larger than an id column holds."""
    raw = (raw or "").strip()
    if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= ID:
        return int(raw)
    return None
