"""The case file (案卷) as one PDF for the person asking: `build`. The layout, and why
fpdf2 draws it, is server/casefile/pdf_layout.py.

fpdf2 brings fontTools with it: 43 MiB in every worker that imports it, where a whole
idle worker is about 90 (benchmarks/bench_memory.py). So a worker loads it with the first
case file it is asked for, not at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server.models import Case, User


def build(case: Case, *, viewer: User, ip: str | None = None) -> bytes:
    """The case file of `case` as `viewer` may read it (server/casefile/pdf_layout.py)."""
    from server.casefile import pdf_layout

    return pdf_layout.build(case, viewer=viewer, ip=ip)
