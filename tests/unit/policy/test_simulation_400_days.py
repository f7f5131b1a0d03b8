"""400 days of backups: run the schedule, add points, decide, prune; check every day.

The expected set comes from an oracle written separately from rsvault.policy.retention: it
looks at every point ever taken (not only the survivors), works in naive local wall-clock
time, and counts calendar days and months back instead of adding spans. If pruning ever
changed which point represents a day, or a span were computed wrongly across a DST change,
a month end or a leap day, the two would disagree.

"now" is checked at 12:00 UTC and at each run, never inside a repeated (fall-back) hour,
where naive wall-clock comparisons are not instant comparisons.
"""

from __future__ import annotations

import calendar
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from rsvault.policy import (
    LAST_DAY,
    DailyRetention,
    Frequency,
    HourlySchedule,
    MonthlyRetention,
    PointFacts,
    Policy,
    PolicyType,
    Retention,
    Schedule,
    WeeklyRetention,
    WeekOfMonth,
    YearlyRetention,
    decide,
    next_runs,
    validate_policy,
)

MON, WED, THU, SAT, SUN = 0, 2, 3, 5, 6
START = datetime(2023, 12, 1, 12, tzinfo=UTC)  # 400 days: a leap day, every DST change of 2024
DAYS = 400

CASES = {
    "daily-berlin": Policy(
        PolicyType.STANDARD,
        Schedule(Frequency.DAILY, time(2, 30), time_zone="Europe/Berlin"),  # in both changes
        Retention(
            DailyRetention(10),
            WeeklyRetention(3, (SUN, WED)),
            MonthlyRetention(4, (1, 15, LAST_DAY)),
            YearlyRetention(1, (2, 3, 12), (), (WeekOfMonth.LAST,), (SUN, THU)),
        ),
        3,
    ),
    "weekly-new-york": Policy(
        PolicyType.STANDARD,
        Schedule(Frequency.WEEKLY, time(23, 30), (SUN, WED), time_zone="America/New_York"),
        Retention(
            weekly=WeeklyRetention(4, (SUN, WED)),
            monthly=MonthlyRetention(2, (), (WeekOfMonth.FIRST, WeekOfMonth.LAST), (WED,)),
            yearly=YearlyRetention(1, (1, 3, 11), (), (WeekOfMonth.FIRST,), (SUN,)),
        ),
        5,
    ),
    "hourly-lord-howe": Policy(
        PolicyType.ENHANCED,
        Schedule(
            Frequency.HOURLY,
            hourly=HourlySchedule(6, time(2), 24),  # 02:00 falls in October's gap
            time_zone="Australia/Lord_Howe",
        ),
        Retention(
            DailyRetention(7),
            WeeklyRetention(2, (SAT,)),
            MonthlyRetention(3, (7, LAST_DAY)),
            YearlyRetention(1, (4,), (), (WeekOfMonth.FIRST,), (SUN,)),
        ),
        3,
    ),
    "hourly-kolkata-past-midnight": Policy(
        PolicyType.ENHANCED,
        Schedule(
            Frequency.HOURLY,
            hourly=HourlySchedule(4, time(19, 30), 12),  # 19:30 23:30 03:30
            time_zone="Asia/Kolkata",
        ),
        Retention(DailyRetention(7), WeeklyRetention(1, (MON,))),
        1,
    ),
}


@dataclass(frozen=True)
class Taken:
    facts: PointFacts
    wall: datetime  # naive local wall-clock time in the policy's zone


def wall(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)


# ---- the oracle -------------------------------------------------------------------------


def nth_weekday_days(year: int, month: int, weekday: int) -> list[int]:
    """The days of the month that fall on `weekday`, in order."""
    weeks = calendar.Calendar().monthdayscalendar(year, month)
    return [week[weekday] for week in weeks if week[weekday]]


@functools.cache  # the same dates are asked about on every check
def picked(
    day: date, days: tuple[int, ...], weeks: tuple[WeekOfMonth, ...], weekdays: tuple[int, ...]
) -> bool:
    last = calendar.monthrange(day.year, day.month)[1]
    if days:
        return any(day.day == (last if d == LAST_DAY else d) for d in days)
    if day.weekday() not in weekdays:
        return False
    same = nth_weekday_days(day.year, day.month, day.weekday())
    ordinal = {"First": 0, "Second": 1, "Third": 2, "Fourth": 3, "Last": len(same) - 1}
    return any(same[ordinal[str(week)]] == day.day for week in weeks)


def within_days(taken: datetime, now: datetime, days: int) -> bool:
    back = (now.date() - taken.date()).days
    return back < days or (back == days and now.time() < taken.time())


def within_months(taken: datetime, now: datetime, months: int) -> bool:
    back = (now.year * 12 + now.month) - (taken.year * 12 + taken.month)
    if back != months:
        return back < months
    day = min(taken.day, calendar.monthrange(now.year, now.month)[1])
    return (now.day, now.time()) < (day, taken.time())


class Oracle:
    """What should exist, from every point ever taken, with no help from the code under test.

    A point's expected reasons only ever shrink as time goes on (a later point of its date
    takes over the day, spans run out), so a point found dead is forgotten for speed.
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.zone = ZoneInfo(policy.schedule.time_zone)
        self.alive: list[Taken] = []
        self.last_of_day: dict[date, str] = {}

    def took(self, point: PointFacts) -> None:
        taken = Taken(point, wall(point.time, self.zone))
        self.alive.append(taken)
        if not point.on_demand:  # points come in time order: the newest of its date so far
            self.last_of_day[taken.wall.date()] = point.name

    def expected(self, now: datetime) -> dict[str, tuple[str, ...]]:
        """Name -> reasons in force at now, for every point that should still exist."""
        now_wall = wall(now, self.zone)
        out = {}
        for taken in self.alive:
            if taken.facts.on_demand:
                until = taken.facts.retain_until
                reasons = ["retain-until"] if until is None or now < until else []
            else:
                representative = self.last_of_day[taken.wall.date()] == taken.facts.name
                reasons = tag_reasons(self.policy, taken.wall, now_wall, representative)
            if reasons:
                out[taken.facts.name] = tuple(reasons)
        self.alive = [taken for taken in self.alive if taken.facts.name in out]
        return out


def tag_reasons(policy: Policy, taken: datetime, now: datetime, representative: bool) -> list[str]:
    r = policy.retention
    reasons = []
    if representative:
        if r.daily and within_days(taken, now, r.daily.days):
            reasons.append("daily")
        if (
            r.weekly
            and taken.weekday() in r.weekly.weekdays
            and within_days(taken, now, 7 * r.weekly.weeks)
        ):
            reasons.append("weekly")
        m = r.monthly
        m_day = m and picked(taken.date(), m.days_of_month, m.weeks_of_month, m.weekdays)
        if m and m_day and within_months(taken, now, m.months):
            reasons.append("monthly")
        y = r.yearly
        y_day = y and picked(taken.date(), y.days_of_month, y.weeks_of_month, y.weekdays)
        if (
            y
            and y_day
            and taken.month in y.months_of_year
            and within_months(taken, now, 12 * y.years)
        ):
            reasons.append("yearly")
    if within_days(taken, now, policy.instant_rp_retention_days):
        reasons.append("snapshot")
    return reasons


# ---- the simulation ---------------------------------------------------------------------


def on_demand(day: int, at: datetime) -> PointFacts | None:
    if day == 3:
        return PointFacts(f"od{day}", at, on_demand=True)  # kept for ever
    if day % 9 == 4:
        return PointFacts(f"od{day}", at, on_demand=True, retain_until=at + timedelta(days=20))
    return None


def events(policy: Policy) -> Iterator[tuple[int, PointFacts | None, datetime]]:
    """(day, point taken or None for a check at noon, now), in time order."""
    cursor = START
    for day in range(DAYS):
        noon = START + timedelta(days=day + 1)
        runs = [run for run in next_runs(policy.schedule, cursor, 8) if run <= noon]
        for run in runs:
            yield day, PointFacts(f"s{run:%Y%m%dT%H%M}", run), run
        cursor = max([cursor, *runs])
        extra = on_demand(day, noon - timedelta(hours=5))
        if extra is not None:
            yield day, extra, extra.time
        yield day, None, noon


@pytest.mark.parametrize("case", sorted(CASES))
def test_400_days_keep_exactly_what_the_policy_says(case: str) -> None:
    policy = validate_policy(CASES[case], case)
    oracle = Oracle(policy)
    kept: list[PointFacts] = []
    taken_count = 0
    for day, taken, now in sorted(events(policy), key=lambda e: e[2]):
        if taken is not None:
            oracle.took(taken)
            kept.append(taken)
            taken_count += 1
        decisions = decide(policy, kept, now)
        kept = [p for p, d in zip(kept, decisions, strict=True) if d.keep]
        expected = oracle.expected(now)
        got = {d.name: tuple(r for r in d.reasons if r != "latest") for d in decisions if d.keep}
        newest = max(kept, key=lambda p: p.time).name if kept else None
        assert {name for name, reasons in got.items() if not reasons} <= {newest}, day
        assert {name: reasons for name, reasons in got.items() if reasons} == expected, day
    assert taken_count > DAYS // 4


def test_the_steady_state_counts_of_the_daily_case() -> None:
    """After long enough, 10 daily, 3 weeks x 2 weekdays, and 4 monthly x 3 days in force."""
    policy = CASES["daily-berlin"]
    points = [
        PointFacts(f"p{n}", run) for n, run in enumerate(next_runs(policy.schedule, START, 200))
    ]
    now = points[-1].time + timedelta(hours=1)
    decisions = decide(policy, points, now)
    counts = {
        reason: sum(reason in d.reasons for d in decisions)
        for reason in ("daily", "weekly", "monthly")
    }
    assert counts == {"daily": 10, "weekly": 6, "monthly": 4 * 3}
