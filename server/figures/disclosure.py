"""每月一公开: the month's public figures, with every count too small to publish hidden
so that none can be worked out from the others (complementary suppression)."""

from __future__ import annotations

from server.figures.periods import Period
from server.figures.statistics import compute
from server.models import CategoryGroup

HIDDEN = "—"  # a count not published, so that a small one beside it cannot be worked out


def _domain(kind: str, threshold: int, hidden_sum: int) -> range | list[int]:
    """What a reader knows a hidden cell may hold: a "<5" one 1..4; a "—" one 0 or at
    least the threshold (or anything, when every cell of the table is hidden)."""
    if kind == "small":
        return range(1, threshold)
    if kind == "any":
        return range(0, hidden_sum + 1)
    return [0, *range(threshold, hidden_sum + 1)]


def _worked_out(hidden: dict[int, str], hidden_sum: int, threshold: int) -> bool:
    """Whether a reader can work out a hidden cell's value: given what each may hold and
    that together they make what the total leaves, one of them has a single value."""
    domains = {i: _domain(kind, threshold, hidden_sum) for i, kind in hidden.items()}
    for i, domain in domains.items():
        reachable = {0}  # the sums the other hidden cells can make together
        for j, other in domains.items():
            if j != i:
                reachable = {a + v for a in reachable for v in other if a + v <= hidden_sum}
        if len([v for v in domain if hidden_sum - v in reachable]) <= 1:
            return True
    return False


def suppress(cells: list[tuple[str, int]], total: int, threshold: int) -> list[tuple[str, str]]:
    """The cells of a table adding up to `total`, as published. A count below `threshold`
    reads "<5" (primary suppression); while the shown total and cells still give a hidden
    one away, the smallest count shown is hidden too, as "—" (complementary suppression);
    and if even that cannot protect them, the table shows no cell at all, only its total.
    So no hidden cell can be derived by subtraction."""
    hidden = {i: "small" for i, (_label, n) in enumerate(cells) if 0 < n < threshold}
    if hidden and total >= threshold:  # a total shown as "<5" gives nothing away

        def left() -> int:
            return sum(cells[i][1] for i in hidden)

        while _worked_out(hidden, left(), threshold):
            shown = [(n, i) for i, (_label, n) in enumerate(cells) if n and i not in hidden]
            if not shown:
                hidden = dict.fromkeys(range(len(cells)), "any")
                break
            _n, smallest = min(shown)
            hidden[smallest] = "complementary"
    return [
        (label, f"<{threshold}" if hidden.get(i) == "small" else HIDDEN if i in hidden else str(n))
        for i, (label, n) in enumerate(cells)
    ]


def disclosure(period: Period, *, threshold: int = 5, town_id: int | None = None) -> dict:
    """The month's public figures (每月一公开) of a town (`town_id`; None: every town's):
    by group and by village, with no count that could point at a person: a count below
    `threshold` reads "<5", villages below it are merged into one row, and a count that
    would give a small one away by subtraction from the total is hidden too (`suppress`)."""
    figures = compute(period, town_id=town_id)

    def shown(value: int) -> str:
        return f"<{threshold}" if 0 < value < threshold else str(value)

    total = figures.received
    groups = suppress(
        [
            (label, figures.received_by_group.get(label, 0))
            for label in (g.label for g in CategoryGroup)
        ],
        total,
        threshold,
    )
    big = [(name, n) for name, n in figures.received_by_village.items() if n >= threshold]
    small = sum(n for _name, n in figures.received_by_village.items() if n < threshold)
    villages = suppress(big + ([("其他各村（合计）", small)] if small else []), total, threshold)
    return {
        "period": period,
        "received": shown(total),
        "resolved": shown(figures.resolved),
        "closed": shown(figures.closed),
        "resolution_rate": figures.resolution_rate,
        "groups": groups,
        "villages": villages,
        "screenings": shown(figures.screenings),
        "threshold": threshold,
        "hidden": HIDDEN,
    }
