"""Spreadsheet cells that are only ever text: what a villager or a grid worker typed goes
into the town's Excel ledgers, and Excel must never run it.

openpyxl stores any string starting with "=" as a formula, so `=HYPERLINK(...)` in a
party's name became a live link and `=cmd|' /C calc'!A0` a command. Every string is
written as a string cell, and one starting with a character a spreadsheet reads as the
start of a formula (= + - @, a tab or a carriage return) gets a leading apostrophe, as
OWASP's CSV-injection advice has it, so that a copy to CSV stays inert too.
"""

from __future__ import annotations

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# The control characters a worksheet cannot hold: openpyxl's own ILLEGAL_CHARACTERS_RE,
# written out here so that this module does not load openpyxl (16 MiB in every worker)
# before a worker writes its first spreadsheet; tests/test_informant_trust.py checks
# they agree.
ILLEGAL_CHARACTERS_RE = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")


def inert(value):
    """`value` as a spreadsheet may hold it: a string that cannot start a formula, without
    the control characters a worksheet cannot hold (one in a party's name made openpyxl
    refuse the whole ledger)."""
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
        if value.startswith(FORMULA_STARTS):
            return "'" + value
    return value


def row(sheet, values) -> list:
    """A row for `sheet` (write-only or not): strings as string cells, numbers as numbers."""
    from openpyxl.cell import WriteOnlyCell

    cells = []
    for value in values:
        if isinstance(value, str):
            cell = WriteOnlyCell(sheet, value=None)
            cell.value = inert(value)
            cell.data_type = "s"  # set after the value: openpyxl would infer a formula
            cells.append(cell)
        else:
            cells.append(value)
    return cells
