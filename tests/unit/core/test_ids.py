"""Recovery point names sort in the order the backups ran, even within one second."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rsvault.core.ids import recovery_point_name


def test_names_within_one_second_sort_by_time() -> None:
    start = datetime(2026, 11, 21, 23, 2, 0, 999_000, tzinfo=UTC)
    times = [start + timedelta(microseconds=n * 97) for n in range(50)]
    names = [recovery_point_name(t) for t in times]
    assert sorted(names) == names
    assert names[0].startswith("20261121T230200.999000Z-")
