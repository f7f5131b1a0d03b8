"""Retention: the newest point survives, counts match the policy, expiries are consistent."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.policy.strategies import ZONES, policies, schedules

from rsvault.policy import (
    DailyRetention,
    Frequency,
    MonthlyRetention,
    PointFacts,
    Policy,
    PolicyType,
    Retention,
    Schedule,
    WeeklyRetention,
    decide,
    expiry_of,
    next_runs,
)

ORDER = ("daily", "weekly", "monthly", "yearly", "snapshot", "retain-until", "latest")
starts = st.datetimes(
    datetime(1995, 1, 1),  # noqa: DTZ001 (hypothesis takes naive bounds)
    datetime(2075, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@st.composite
def point_sets(draw: st.DrawFn, start: datetime) -> list[PointFacts]:
    """Scheduled and on-demand points at any times over about a year and a half."""
    points = []
    minutes = draw(st.lists(st.integers(0, 60 * 24 * 550), min_size=1, max_size=40, unique=True))
    for index, minute in enumerate(minutes):
        at = start + timedelta(minutes=minute)
        if draw(st.booleans()):
            points.append(PointFacts(f"s{index}", at))
            continue
        keep_days = draw(st.none() | st.integers(0, 400))
        until = None if keep_days is None else at + timedelta(days=keep_days)
        points.append(PointFacts(f"o{index}", at, on_demand=True, retain_until=until))
    return points


@settings(max_examples=150)
@given(policies(), starts, st.integers(-2, 60 * 24 * 900), st.data())
def test_newest_is_kept_and_decisions_agree_with_expiries(
    policy: Policy, start: datetime, now_minute: int, data: st.DataObject
) -> None:
    points = data.draw(point_sets(start))
    now = start + timedelta(minutes=now_minute)
    expiries = expiry_of(policy, points)
    decisions = decide(policy, points, now)
    newest = max(point.time for point in points)
    assert [d.name for d in decisions] == [p.name for p in points]
    for point, decision in zip(points, decisions, strict=True):
        expiry = expiries[point.name]
        is_newest = point.time == newest
        assert decision.expiry == expiry.at
        assert decision.keep == (expiry.at is None or now < expiry.at or is_newest)
        assert decision.keep == bool(decision.reasons)
        assert ("latest" in decision.reasons) == is_newest
        assert set(decision.reasons) - {"latest"} <= set(expiry.reasons)
        assert list(decision.reasons) == sorted(decision.reasons, key=ORDER.index)
        if not point.on_demand:
            assert expiry.at is None or expiry.at > point.time
            assert "snapshot" in expiry.reasons
        elif point.retain_until is not None:
            assert expiry.at == point.retain_until >= point.time


@settings(max_examples=100)
@given(st.sampled_from(list(Frequency)), starts, st.integers(1, 30), st.data())
def test_deciding_again_on_the_survivors_keeps_them_all(
    frequency: Frequency, start: datetime, keep_days: int, data: st.DataObject
) -> None:
    schedule: Schedule = data.draw(schedules(frequency))
    retention = data.draw(
        policies().map(lambda p: p.retention).filter(lambda r: r.daily is not None)
    )
    if frequency is Frequency.WEEKLY:
        retention = Retention(weekly=WeeklyRetention(2, schedule.weekdays))
    policy = Policy(PolicyType.ENHANCED, schedule, retention, keep_days)
    runs = next_runs(schedule, start, data.draw(st.integers(1, 120)))
    points = [PointFacts(f"p{n}", run) for n, run in enumerate(runs)]
    now = runs[-1] + timedelta(hours=data.draw(st.integers(0, 24 * 400)))
    first = decide(policy, points, now)
    survivors = [p for p, d in zip(points, first, strict=True) if d.keep]
    assert decide(policy, survivors, now) == [d for d in first if d.keep]


# Run times away from the small hours, so no run falls in a DST gap (Apia's skipped day is
# left out for the same reason): then N days of daily points are exactly N points.
day_times = st.integers(12, 44).map(lambda n: time(n // 2, 30 * (n % 2)))
count_zones = st.sampled_from([zone for zone in ZONES if zone != "Pacific/Apia"])


@settings(max_examples=100)
@given(
    count_zones,
    day_times,
    starts,
    st.integers(7, 40),
    st.integers(1, 6),
    st.lists(st.integers(0, 6), min_size=1, max_size=7, unique=True),
    st.integers(1, 4),
    st.lists(st.integers(1, 28), min_size=1, max_size=4, unique=True),
    st.data(),
)
def test_kept_counts_match_the_policy(
    zone: str,
    at: time,
    start: datetime,
    days: int,
    weeks: int,
    weekdays: list[int],
    months: int,
    month_days: list[int],
    data: st.DataObject,
) -> None:
    retention = Retention(
        DailyRetention(days),
        WeeklyRetention(weeks, tuple(weekdays)),
        MonthlyRetention(months, tuple(month_days)),
    )
    policy = Policy(
        PolicyType.STANDARD, Schedule(Frequency.DAILY, at, time_zone=zone), retention, 2
    )
    history = max(days, 7 * weeks, 31 * (months + 1)) + data.draw(st.integers(0, 60))
    runs = next_runs(policy.schedule, start, history + 1)
    points = [PointFacts(f"p{n}", run) for n, run in enumerate(runs[:-1])]
    # any moment from the last run up to (not including) the next one
    gap_us = (runs[-1] - runs[-2]) // timedelta(microseconds=1)
    now = runs[-2] + timedelta(microseconds=data.draw(st.integers(0, gap_us - 1)))
    decisions = decide(policy, points, now)
    counted = {reason: sum(reason in d.reasons for d in decisions) for reason in ORDER}
    assert counted["daily"] == days
    assert counted["weekly"] == weeks * len(weekdays)
    assert counted["monthly"] == months * len(month_days)
    assert counted["latest"] == 1
