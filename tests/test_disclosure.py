"""The public disclosure (每月一公开) cannot be undone by subtraction: whatever the cells,
no hidden one can be worked out from the total and the others (complementary
suppression), checked by trying every value each hidden cell could have."""

from __future__ import annotations

import itertools
import random

import pytest

from server.figures.disclosure import HIDDEN, suppress

T = 5


def possible_values(published: list[str], total: int) -> list[set[int]]:
    """For each hidden cell, every value it could have given what is published: a "<5"
    one 1..4, a "—" one 0 or at least 5, and anything when every cell is hidden."""
    shown = sum(int(v) for v in published if v.isdigit())
    hidden = [i for i, v in enumerate(published) if not v.isdigit()]
    everything = all(v == HIDDEN for v in published)

    def domain(value):
        if value == f"<{T}":
            return range(1, T)
        return range(total + 1) if everything else [0, *range(T, total + 1)]

    ranges = [domain(published[i]) for i in hidden]
    seen = [set() for _ in hidden]
    for values in itertools.product(*ranges):
        if shown + sum(values) == total:
            for k, value in enumerate(values):
                seen[k].add(value)
    return seen


def test_the_case_the_issue_found_is_closed():
    cells = [("矛盾纠纷", 22), ("治安隐患", 1), ("安全隐患", 0), ("综合执法", 0)]
    published = [v for _label, v in suppress(cells, 23, T)]
    assert published == [HIDDEN, "<5", "0", "0"]  # 22 hidden too: 23 - 22 would say 1
    assert all(len(values) >= 2 for values in possible_values(published, 23))


@pytest.mark.parametrize("seed", range(300))
def test_no_hidden_cell_can_be_worked_out(seed):
    rng = random.Random(seed)
    cells = [
        (f"c{i}", rng.choice([0, 0, 1, 1, 2, 3, 4, 5, 6, 9, 14, 30]))
        for i in range(rng.randint(2, 5))
    ]
    total = sum(n for _label, n in cells)
    published = [v for _label, v in suppress(cells, total, T)]
    for (_label, n), value in zip(cells, published, strict=True):
        if value.isdigit():
            assert int(value) == n
        elif value == f"<{T}":
            assert 0 < n < T
    if total >= T:  # the total is published as it is
        for values in possible_values(published, total):
            assert len(values) >= 2, (cells, published)
