"""next_runs: wall-clock run times in the policy's zone, through both daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone

import pytest

from rsvault.policy import Frequency, HourlySchedule, Schedule, next_runs


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[arg-type, misc]


def daily(at: time, zone: str) -> Schedule:
    return Schedule(Frequency.DAILY, run_time=at, time_zone=zone)


def hourly(start: time, interval: int, window: int, zone: str) -> Schedule:
    return Schedule(
        Frequency.HOURLY, hourly=HourlySchedule(interval, start, window), time_zone=zone
    )


def test_daily_runs_at_the_time_in_utc() -> None:
    runs = next_runs(daily(time(2), "UTC"), utc(2024, 1, 1, 2, 0), 3)
    assert runs == [utc(2024, 1, 2, 2), utc(2024, 1, 3, 2), utc(2024, 1, 4, 2)]
    assert all(run.tzinfo is UTC for run in runs)


def test_after_is_exclusive_and_may_be_in_any_zone() -> None:
    after = datetime(2024, 1, 1, 3, 0, tzinfo=timezone(timedelta(hours=1)))  # 02:00 UTC
    assert next_runs(daily(time(2), "UTC"), after, 1) == [utc(2024, 1, 2, 2)]
    assert next_runs(daily(time(2), "UTC"), after - timedelta(microseconds=1), 1) == [
        utc(2024, 1, 1, 2)
    ]


def test_berlin_spring_forward_moves_a_missing_time_past_the_gap() -> None:
    # 2024-03-31 02:00 CET becomes 03:00 CEST; 02:30 does not exist and runs at 03:30 CEST
    runs = next_runs(daily(time(2, 30), "Europe/Berlin"), utc(2024, 3, 29, 12), 3)
    assert runs == [utc(2024, 3, 30, 1, 30), utc(2024, 3, 31, 1, 30), utc(2024, 4, 1, 0, 30)]


def test_berlin_fall_back_runs_an_ambiguous_time_once_at_its_first_occurrence() -> None:
    # 2024-10-27 03:00 CEST becomes 02:00 CET; 02:30 happens twice
    schedule = daily(time(2, 30), "Europe/Berlin")
    runs = next_runs(schedule, utc(2024, 10, 25, 12), 3)
    assert runs == [utc(2024, 10, 26, 0, 30), utc(2024, 10, 27, 0, 30), utc(2024, 10, 28, 1, 30)]
    assert next_runs(schedule, utc(2024, 10, 27, 0, 30), 1) == [utc(2024, 10, 28, 1, 30)]


def test_new_york_spring_forward_and_fall_back() -> None:
    spring = next_runs(daily(time(2, 30), "America/New_York"), utc(2024, 3, 9, 0), 3)
    assert spring == [utc(2024, 3, 9, 7, 30), utc(2024, 3, 10, 7, 30), utc(2024, 3, 11, 6, 30)]
    fall = next_runs(daily(time(1, 30), "America/New_York"), utc(2024, 11, 2, 0), 3)
    assert fall == [utc(2024, 11, 2, 5, 30), utc(2024, 11, 3, 5, 30), utc(2024, 11, 4, 6, 30)]


def test_a_half_hour_zone() -> None:
    # Asia/Kolkata is UTC+05:30 all year: local midnight is 18:30 UTC the day before
    runs = next_runs(daily(time(0), "Asia/Kolkata"), utc(2024, 1, 1, 18, 30), 2)
    assert runs == [utc(2024, 1, 2, 18, 30), utc(2024, 1, 3, 18, 30)]


def test_lord_howe_moves_its_clocks_by_thirty_minutes() -> None:
    # +10:30 standard, +11:00 summer; 2024-10-06 02:00 becomes 02:30
    spring = next_runs(daily(time(2), "Australia/Lord_Howe"), utc(2024, 10, 4, 0), 3)
    assert spring == [utc(2024, 10, 4, 15, 30), utc(2024, 10, 5, 15, 30), utc(2024, 10, 6, 15)]
    # 2024-04-07 02:00 becomes 01:30; 01:30 happens twice and runs at the first (+11:00)
    fall = next_runs(daily(time(1, 30), "Australia/Lord_Howe"), utc(2024, 4, 5, 0), 3)
    assert fall == [utc(2024, 4, 5, 14, 30), utc(2024, 4, 6, 14, 30), utc(2024, 4, 7, 15)]


def test_weekly_runs_only_on_its_weekdays_across_a_change() -> None:
    schedule = Schedule(Frequency.WEEKLY, time(23, 30), (6, 2), time_zone="America/New_York")
    runs = next_runs(schedule, utc(2024, 3, 6, 12), 3)  # Wednesday
    # Wed 23:30 EST, Sun 23:30 EDT, Wed 23:30 EDT
    assert runs == [utc(2024, 3, 7, 4, 30), utc(2024, 3, 11, 3, 30), utc(2024, 3, 14, 3, 30)]


def test_hourly_slots_keep_their_wall_clock_times_across_spring_forward() -> None:
    schedule = hourly(time(8), 4, 24, "Europe/Berlin")  # 08 12 16 20 00 04
    runs = next_runs(schedule, utc(2024, 3, 30, 18), 5)
    assert runs == [
        utc(2024, 3, 30, 19),  # 20:00 CET
        utc(2024, 3, 30, 23),  # 00:00 CET
        utc(2024, 3, 31, 2),  # 04:00 CEST
        utc(2024, 3, 31, 6),  # 08:00 CEST
        utc(2024, 3, 31, 10),
    ]


def test_an_hourly_slot_inside_the_gap_runs_after_it() -> None:
    schedule = hourly(time(2), 6, 24, "America/New_York")  # 02 08 14 20
    runs = next_runs(schedule, utc(2024, 3, 10, 0), 3)
    assert runs == [utc(2024, 3, 10, 1), utc(2024, 3, 10, 7), utc(2024, 3, 10, 12)]


def test_hourly_fall_back_runs_the_ambiguous_slot_once() -> None:
    schedule = hourly(time(1), 4, 24, "America/New_York")  # 01 05 09 13 17 21
    # after 21:00 EDT on the 2nd; 01:00 on the 3rd is EDT (05:00 UTC), never EST (06:00 UTC)
    runs = next_runs(schedule, utc(2024, 11, 3, 1), 3)
    assert runs == [utc(2024, 11, 3, 5), utc(2024, 11, 3, 10), utc(2024, 11, 3, 14)]


def test_an_hourly_window_may_run_past_midnight() -> None:
    schedule = hourly(time(19, 30), 4, 12, "UTC")  # 19:30, 23:30, 03:30; 07:30 is outside
    runs = next_runs(schedule, utc(2024, 1, 1), 4)
    assert runs == [
        utc(2024, 1, 1, 3, 30),
        utc(2024, 1, 1, 19, 30),
        utc(2024, 1, 1, 23, 30),
        utc(2024, 1, 2, 3, 30),
    ]


def test_a_window_as_long_as_the_interval_runs_once_a_day() -> None:
    runs = next_runs(hourly(time(6), 4, 4, "Asia/Kolkata"), utc(2024, 1, 1), 2)
    assert runs == [utc(2024, 1, 1, 0, 30), utc(2024, 1, 2, 0, 30)]


def test_far_from_any_origin_and_count_zero() -> None:
    schedule = daily(time(2), "Europe/Berlin")
    assert next_runs(schedule, utc(2300, 6, 30, 12), 1) == [utc(2300, 7, 1, 0)]  # CEST
    assert next_runs(schedule, utc(2024, 1, 1), 0) == []


def test_naive_instants_and_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_runs(daily(time(2), "UTC"), datetime(2024, 1, 1), 1)  # noqa: DTZ001
    with pytest.raises(ValueError, match="negative"):
        next_runs(daily(time(2), "UTC"), utc(2024, 1, 1), -1)


def test_a_skipped_day_runs_once_not_twice() -> None:
    # Samoa skipped 30 December 2011; its 02:00 lands on the 31st's 02:00, which runs once
    runs = next_runs(daily(time(2), "Pacific/Apia"), utc(2011, 12, 28, 13), 3)
    assert runs == [utc(2011, 12, 29, 12), utc(2011, 12, 30, 12), utc(2011, 12, 31, 12)]
