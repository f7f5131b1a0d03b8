"""What a backup policy says: when to back up and how long to keep what was taken.

Plain values only. Whether a combination is allowed is `validation`'s job, the JSON spelling
is `document`'s. Weekdays are ints with 0 = Monday (as `date.weekday()`), months are 1-12,
and day of month 0 means "the last day of the month".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from enum import StrEnum

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
LAST_DAY = 0
"""The value of a day of month that means the month's last day, whatever its length."""


class Frequency(StrEnum):
    DAILY = "Daily"
    WEEKLY = "Weekly"
    HOURLY = "Hourly"


class PolicyType(StrEnum):
    STANDARD = "Standard"
    ENHANCED = "Enhanced"


class WeekOfMonth(StrEnum):
    FIRST = "First"
    SECOND = "Second"
    THIRD = "Third"
    FOURTH = "Fourth"
    LAST = "Last"


@dataclass(frozen=True, slots=True)
class HourlySchedule:
    """Runs at window_start, window_start + interval, ... inside a window of window_hours."""

    interval_hours: int
    window_start: time
    window_hours: int


@dataclass(frozen=True, slots=True)
class Schedule:
    """When backups run, as wall-clock times in `time_zone` (an IANA name)."""

    frequency: Frequency
    run_time: time | None = None
    weekdays: tuple[int, ...] = ()
    hourly: HourlySchedule | None = None
    time_zone: str = "UTC"


@dataclass(frozen=True, slots=True)
class DailyRetention:
    days: int


@dataclass(frozen=True, slots=True)
class WeeklyRetention:
    weeks: int
    weekdays: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class MonthlyRetention:
    """Either day-based (days_of_month) or week-based (weeks_of_month with weekdays)."""

    months: int
    days_of_month: tuple[int, ...] = ()
    weeks_of_month: tuple[WeekOfMonth, ...] = ()
    weekdays: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class YearlyRetention:
    """In the months listed, the days chosen the same way as for monthly retention."""

    years: int
    months_of_year: tuple[int, ...]
    days_of_month: tuple[int, ...] = ()
    weeks_of_month: tuple[WeekOfMonth, ...] = ()
    weekdays: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Retention:
    daily: DailyRetention | None = None
    weekly: WeeklyRetention | None = None
    monthly: MonthlyRetention | None = None
    yearly: YearlyRetention | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    policy_type: PolicyType
    schedule: Schedule
    retention: Retention
    instant_rp_retention_days: int
