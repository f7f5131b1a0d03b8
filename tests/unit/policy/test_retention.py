"""expiry_of and decide: the tags a point gets when taken, their spans, and what is kept."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from rsvault.policy import (
    LAST_DAY,
    DailyRetention,
    Decision,
    Expiry,
    Frequency,
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
    expiry_of,
    validate_policy,
)

SUNDAY, FRIDAY = 6, 4


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[arg-type, misc]


def policy(
    retention: Retention,
    *,
    instant: int = 2,
    zone: str = "UTC",
    kind: PolicyType = PolicyType.STANDARD,
) -> Policy:
    schedule = Schedule(Frequency.DAILY, run_time=time(2), time_zone=zone)
    return validate_policy(Policy(kind, schedule, retention, instant), "test")


def point(name: str, at: datetime) -> PointFacts:
    return PointFacts(name, at)


def daily_points(first: datetime, days: int) -> list[PointFacts]:
    return [point(f"d{n}", first + timedelta(days=n)) for n in range(days)]


def by_name(decisions: list[Decision]) -> dict[str, Decision]:
    return {decision.name: decision for decision in decisions}


def test_daily_retention_keeps_the_last_n_days_and_says_why() -> None:
    points = daily_points(utc(2024, 1, 1, 2), 10)  # d0 .. d9
    decisions = by_name(decide(policy(Retention(DailyRetention(7))), points, utc(2024, 1, 10, 3)))
    assert [name for name, d in decisions.items() if d.keep] == [f"d{n}" for n in range(3, 10)]
    assert decisions["d9"].reasons == ("daily", "snapshot", "latest")
    assert decisions["d8"].reasons == ("daily", "snapshot")
    assert decisions["d7"].reasons == ("daily",)
    assert decisions["d2"].reasons == ()
    assert decisions["d2"].expiry == utc(2024, 1, 10, 2)


def test_expiry_is_the_latest_tag_and_lists_every_tag() -> None:
    retention = Retention(DailyRetention(7), WeeklyRetention(4, (SUNDAY,)))
    sunday = utc(2024, 3, 3, 2)
    expiries = expiry_of(policy(retention), [point("sun", sunday)])
    assert expiries == {
        "sun": Expiry(utc(2024, 3, 31, 2), ("daily", "weekly", "snapshot")),
    }


def test_only_the_last_scheduled_point_of_a_local_date_represents_it() -> None:
    berlin = policy(Retention(DailyRetention(7)), zone="Europe/Berlin")
    points = [
        point("early", utc(2024, 1, 1, 0, 30)),  # 01:30 on the 1st in Berlin
        point("late", utc(2024, 1, 1, 22, 30)),  # 23:30 on the 1st
        point("next", utc(2024, 1, 1, 23, 30)),  # 00:30 on the 2nd: another local date
    ]
    expiries = expiry_of(berlin, points)
    assert expiries["early"] == Expiry(utc(2024, 1, 3, 0, 30), ("snapshot",))
    assert expiries["late"].reasons == ("daily", "snapshot")
    assert expiries["next"].reasons == ("daily", "snapshot")


def test_an_on_demand_point_is_kept_until_its_date_and_never_represents_a_day() -> None:
    points = [
        point("scheduled", utc(2024, 1, 1, 2)),
        PointFacts("adhoc", utc(2024, 1, 1, 9), on_demand=True, retain_until=utc(2024, 2, 1)),
        PointFacts("forever", utc(2024, 1, 1, 10), on_demand=True),
    ]
    expiries = expiry_of(policy(Retention(DailyRetention(7))), points)
    assert expiries["scheduled"].reasons == ("daily", "snapshot")
    assert expiries["adhoc"] == Expiry(utc(2024, 2, 1), ("retain-until",))
    assert expiries["forever"] == Expiry(None, ("retain-until",))
    decisions = by_name(decide(policy(Retention(DailyRetention(7))), points, utc(2030, 1, 1)))
    assert decisions["forever"].reasons == ("retain-until", "latest")
    assert not decisions["adhoc"].keep
    assert not decisions["scheduled"].keep


def test_the_newest_point_is_kept_even_when_expired() -> None:
    points = daily_points(utc(2024, 1, 1, 2), 3)
    decisions = decide(policy(Retention(DailyRetention(7))), points, utc(2025, 1, 1))
    assert [(d.name, d.keep, d.reasons) for d in decisions] == [
        ("d0", False, ()),
        ("d1", False, ()),
        ("d2", True, ("latest",)),
    ]
    assert decisions[2].expiry == utc(2024, 1, 10, 2)


def test_monthly_by_day_counts_calendar_months_and_clamps_the_day() -> None:
    retention = Retention(DailyRetention(7), monthly=MonthlyRetention(2, (LAST_DAY, 15)))
    points = [
        point("jan31", utc(2024, 1, 31, 2)),
        point("feb15", utc(2024, 2, 15, 2)),
        point("feb28", utc(2024, 2, 28, 2)),
        point("feb29", utc(2024, 2, 29, 2)),
        point("dec31", utc(2023, 12, 31, 2)),
    ]
    expiries = expiry_of(policy(retention), points)
    assert expiries["jan31"] == Expiry(utc(2024, 3, 31, 2), ("daily", "monthly", "snapshot"))
    assert expiries["feb15"].at == utc(2024, 4, 15, 2)
    assert expiries["feb28"].reasons == ("daily", "snapshot")
    assert expiries["feb29"].at == utc(2024, 4, 29, 2)
    assert expiries["dec31"].at == utc(2024, 2, 29, 2)  # clamped once, from the 31st


def test_monthly_by_week_picks_the_nth_and_the_last_weekday() -> None:
    weeks = (WeekOfMonth.FIRST, WeekOfMonth.LAST)
    retention = Retention(
        DailyRetention(7), monthly=MonthlyRetention(6, (), weeks, (SUNDAY, FRIDAY))
    )
    # March 2024: Sundays 3 10 17 24 31, Fridays 1 8 15 22 29
    tagged = {1, 3, 29, 31}
    points = [point(f"m{day}", utc(2024, 3, day, 2)) for day in range(1, 32)]
    expiries = expiry_of(policy(retention), points)
    monthly = {day for day in range(1, 32) if "monthly" in expiries[f"m{day}"].reasons}
    assert monthly == tagged
    fourth = MonthlyRetention(6, (), (WeekOfMonth.FOURTH,), (FRIDAY,))
    expiries = expiry_of(policy(Retention(DailyRetention(7), monthly=fourth)), points)
    assert {day for day in range(1, 32) if "monthly" in expiries[f"m{day}"].reasons} == {22}


def test_yearly_needs_the_month_and_the_day() -> None:
    yearly = YearlyRetention(1, (2, 12), (LAST_DAY,))
    expiries = expiry_of(
        policy(Retention(DailyRetention(7), yearly=yearly)),
        [
            point("feb29", utc(2024, 2, 29, 2)),
            point("jan31", utc(2024, 1, 31, 2)),
            point("dec31", utc(2024, 12, 31, 2)),
        ],
    )
    assert expiries["feb29"] == Expiry(utc(2025, 2, 28, 2), ("daily", "yearly", "snapshot"))
    assert expiries["jan31"].reasons == ("daily", "snapshot")
    assert expiries["dec31"].at == utc(2025, 12, 31, 2)


def test_spans_are_wall_clock_days_across_daylight_saving() -> None:
    berlin = policy(Retention(DailyRetention(7)), zone="Europe/Berlin")
    expiries = expiry_of(
        berlin,
        [
            point("before", utc(2024, 3, 30, 1, 30)),  # 02:30 CET
            point("gap", utc(2024, 3, 24, 1, 30)),  # 02:30 CET; + 7 days has no 02:30
            point("autumn", utc(2024, 10, 26, 0, 30)),  # 02:30 CEST; + 7 days is CET
        ],
    )
    assert expiries["before"].at == utc(2024, 4, 6, 0, 30)  # 02:30 CEST
    assert expiries["gap"].at == utc(2024, 3, 31, 1, 30)  # 03:30 CEST
    assert expiries["autumn"].at == utc(2024, 11, 2, 1, 30)  # 02:30 CET


def test_a_long_snapshot_span_outlasts_daily_retention() -> None:
    enhanced = policy(Retention(DailyRetention(7)), instant=30, kind=PolicyType.ENHANCED)
    expiry = expiry_of(enhanced, [point("p", utc(2024, 1, 1, 2))])["p"]
    assert expiry == Expiry(utc(2024, 1, 31, 2), ("daily", "snapshot"))


def test_deciding_again_on_the_survivors_changes_nothing() -> None:
    hourly_day = [point(f"h{n}", utc(2024, 1, 1, n * 4)) for n in range(6)]
    rules = policy(Retention(DailyRetention(7)), instant=1)
    now = utc(2024, 1, 3)
    first = decide(rules, hourly_day, now)
    survivors = [p for p, d in zip(hourly_day, first, strict=True) if d.keep]
    assert [p.name for p in survivors] == ["h5"]
    assert decide(rules, survivors, now) == [d for d in first if d.keep]


def test_bad_input_is_refused() -> None:
    rules = policy(Retention(DailyRetention(7)))
    with pytest.raises(ValueError, match="unique"):
        expiry_of(rules, [point("a", utc(2024, 1, 1)), point("a", utc(2024, 1, 2))])
    with pytest.raises(ValueError, match="aware"):
        expiry_of(rules, [point("a", datetime(2024, 1, 1))])  # noqa: DTZ001
    with pytest.raises(ValueError, match="aware"):
        decide(rules, [], datetime(2024, 1, 1))  # noqa: DTZ001
    assert decide(rules, [], utc(2024, 1, 1)) == []


def test_an_expiry_past_the_year_9999_is_never() -> None:
    yearly = YearlyRetention(99, (12,), (LAST_DAY,))
    rules = policy(Retention(DailyRetention(7), yearly=yearly))
    expiry = expiry_of(rules, [point("p", utc(9950, 12, 31, 2))])["p"]
    assert expiry == Expiry(None, ("daily", "yearly", "snapshot"))


def test_the_example_of_the_design_page() -> None:
    retention = Retention(
        DailyRetention(7), WeeklyRetention(4, (SUNDAY,)), MonthlyRetention(2, (LAST_DAY,))
    )
    points = [point(f"{m}-{d}", utc(2024, m, d, 2)) for m, d in ((2, 29), (3, 3), (3, 4), (3, 11))]
    decisions = decide(policy(retention), points, utc(2024, 3, 12))
    assert [(d.name, d.reasons) for d in decisions] == [
        ("2-29", ("monthly",)),
        ("3-3", ("weekly",)),
        ("3-4", ()),
        ("3-11", ("daily", "snapshot", "latest")),
    ]
