"""Hypothesis strategies for valid policies, shared by the property tests."""

from __future__ import annotations

from datetime import time

from hypothesis import strategies as st

from rsvault.policy import (
    LAST_DAY,
    DailyRetention,
    Frequency,
    HourlySchedule,
    MonthlyRetention,
    Policy,
    PolicyType,
    Retention,
    Schedule,
    WeeklyRetention,
    WeekOfMonth,
    YearlyRetention,
)

# Zones whose rules are worth a test: 30- and 45-minute offsets, a 30-minute DST (Lord Howe),
# negative DST (Dublin), DST at midnight (Santiago, Havana), a reversal for Ramadan
# (Casablanca), a skipped day (Apia, 2011).
ZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Europe/Dublin",
    "America/Santiago",
    "America/Havana",
    "Pacific/Chatham",
    "America/St_Johns",
    "Asia/Tehran",
    "Asia/Kathmandu",
    "Africa/Casablanca",
    "Pacific/Apia",
)

zones = st.sampled_from(ZONES)
half_hours = st.integers(0, 47).map(lambda n: time(n // 2, 30 * (n % 2)))
weekday_sets = st.lists(st.integers(0, 6), min_size=1, max_size=7, unique=True).map(tuple)


def subsets(values: tuple[int, ...]) -> st.SearchStrategy[tuple[int, ...]]:
    return st.lists(st.sampled_from(values), min_size=1, unique=True).map(tuple)


def hourly_schedules() -> st.SearchStrategy[HourlySchedule]:
    def build(interval: int, start: int, extra: int) -> HourlySchedule:
        return HourlySchedule(
            interval, time(start // 2, 30 * (start % 2)), min(24, max(4, interval) + extra)
        )

    return st.builds(build, st.sampled_from((4, 6, 8, 12)), st.integers(0, 39), st.integers(0, 20))


@st.composite
def schedules(draw: st.DrawFn, frequency: Frequency, zone: str | None = None) -> Schedule:
    tz = zone if zone is not None else draw(zones)
    if frequency is Frequency.HOURLY:
        return Schedule(frequency, hourly=draw(hourly_schedules()), time_zone=tz)
    weekdays = draw(weekday_sets) if frequency is Frequency.WEEKLY else ()
    return Schedule(frequency, draw(half_hours), weekdays, time_zone=tz)


@st.composite
def day_rules(
    draw: st.DrawFn, scheduled: tuple[int, ...] | None
) -> tuple[tuple[int, ...], tuple[WeekOfMonth, ...], tuple[int, ...]]:
    """(days_of_month, weeks_of_month, weekdays): day-based or week-based."""
    if scheduled is None and draw(st.booleans()):
        days = st.lists(st.integers(LAST_DAY, 28), min_size=1, max_size=5, unique=True)
        return tuple(draw(days)), (), ()
    weeks = st.lists(st.sampled_from(list(WeekOfMonth)), min_size=1, unique=True)
    weekdays = subsets(scheduled) if scheduled is not None else weekday_sets
    return (), tuple(draw(weeks)), draw(weekdays)


@st.composite
def retentions(draw: st.DrawFn, schedule: Schedule) -> Retention:
    weekly_schedule = schedule.frequency is Frequency.WEEKLY
    scheduled = schedule.weekdays if weekly_schedule else None
    daily = None if weekly_schedule else DailyRetention(draw(st.integers(7, 9999)))
    weekly = None
    if weekly_schedule or draw(st.booleans()):
        days = subsets(scheduled) if scheduled is not None else weekday_sets
        weekly = WeeklyRetention(draw(st.integers(1, 5163)), draw(days))
    monthly = yearly = None
    if draw(st.booleans()):
        monthly = MonthlyRetention(draw(st.integers(1, 1188)), *draw(day_rules(scheduled)))
    if draw(st.booleans()):
        months = tuple(draw(st.lists(st.integers(1, 12), min_size=1, unique=True)))
        yearly = YearlyRetention(draw(st.integers(1, 99)), months, *draw(day_rules(scheduled)))
    return Retention(daily, weekly, monthly, yearly)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    kind = draw(st.sampled_from(list(PolicyType)))
    frequencies = (
        list(Frequency) if kind is PolicyType.ENHANCED else [Frequency.DAILY, Frequency.WEEKLY]
    )
    schedule = draw(schedules(draw(st.sampled_from(frequencies))))
    if kind is PolicyType.ENHANCED:
        instant = draw(st.integers(1, 30))
    elif schedule.frequency is Frequency.WEEKLY:
        instant = 5
    else:
        instant = draw(st.integers(1, 5))
    return Policy(kind, schedule, draw(retentions(schedule)), instant)
