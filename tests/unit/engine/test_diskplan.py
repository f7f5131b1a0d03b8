"""The chunk plan of a disk backup: read what has data and changed, keep the rest, skip zeros."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rsvault.engine.diskplan import Action, plan_chunks

C = 1024


def _plan(size: int, data: list[tuple[int, int]], dirty: list[tuple[int, int]] | None) -> str:
    letters = {Action.READ: "R", Action.ZERO: "0", Action.KEEP: "k"}
    return "".join(letters[a] for _i, a in plan_chunks(size, C, data, dirty))


def test_full_read_reads_chunks_with_data_only() -> None:
    assert _plan(8 * C, [(0, 10), (3 * C + 5, 5 * C)], None) == "R00RR000"


def test_incremental_reads_dirty_chunks_with_data_and_zeros_dirty_holes() -> None:
    data = [(0, 8 * C)]
    assert _plan(8 * C, data, [(C, C + 1), (5 * C - 1, 5 * C + 1)]) == "kRkkRRkk"
    assert _plan(4 * C, [(0, C)], [(2 * C, 3 * C)]) == "kk0k"


def test_the_last_chunk_may_be_short() -> None:
    assert list(plan_chunks(2 * C + 1, C, [(2 * C, 2 * C + 1)], None)) == [
        (0, Action.ZERO),
        (1, Action.ZERO),
        (2, Action.READ),
    ]


def test_a_window_of_chunks() -> None:
    got = list(plan_chunks(10 * C, C, [(0, 10 * C)], [(7 * C, 8 * C)], first=6, count=3))
    assert got == [(6, Action.KEEP), (7, Action.READ), (8, Action.KEEP)]


ranges = st.lists(st.tuples(st.integers(0, 64 * C), st.integers(1, 8 * C)), max_size=12)


def _normal(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted((s, s + n) for s, n in pairs):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


@given(st.integers(1, 64 * C), ranges, st.one_of(st.none(), ranges))
def test_plan_matches_a_byte_by_byte_oracle(size: int, data: list, dirty: list | None) -> None:
    data_r, dirty_r = _normal(data), None if dirty is None else _normal(dirty)
    for index, action in plan_chunks(size, C, data_r, dirty_r):
        start, end = index * C, min(index * C + C, size)
        has_data = any(s < end and start < e for s, e in data_r)
        changed = dirty_r is None or any(s < end and start < e for s, e in dirty_r)
        expected = Action.KEEP if not changed else Action.READ if has_data else Action.ZERO
        assert action is expected, (index, data_r, dirty_r)
