"""Calendar arithmetic on wall-clock dates: month lengths, adding months, matching a day rule."""

from __future__ import annotations

import calendar
from collections.abc import Collection
from datetime import date, datetime

from rsvault.policy.model import LAST_DAY, WeekOfMonth

_NTH_WEEK = {
    WeekOfMonth.FIRST: 0,
    WeekOfMonth.SECOND: 1,
    WeekOfMonth.THIRD: 2,
    WeekOfMonth.FOURTH: 3,
}


def days_in_month(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def add_months(local: datetime, months: int) -> datetime:
    """The same wall-clock time `months` calendar months later, the day clamped to the month.

    Clamped once, from the original day: 31 January + 1 month is 28 (or 29) February, and
    + 2 months is 31 March, never 28 March.
    """
    index = local.year * 12 + (local.month - 1) + months
    year, month = divmod(index, 12)
    day = min(local.day, days_in_month(year, month + 1))
    return local.replace(year=year, month=month + 1, day=day)


def is_last_day(day: date) -> bool:
    return day.day == days_in_month(day.year, day.month)


def _week_matches(day: date, week: WeekOfMonth) -> bool:
    if week is WeekOfMonth.LAST:
        # no later date of the same weekday in this month
        return day.day + 7 > days_in_month(day.year, day.month)
    return (day.day - 1) // 7 == _NTH_WEEK[week]


def day_matches(
    day: date,
    days_of_month: Collection[int],
    weeks_of_month: Collection[WeekOfMonth],
    weekdays: Collection[int],
) -> bool:
    """Whether `day` is one a monthly or yearly rule picks (day-based or week-based)."""
    if days_of_month:
        return day.day in days_of_month or (LAST_DAY in days_of_month and is_last_day(day))
    if day.weekday() not in weekdays:
        return False
    return any(_week_matches(day, week) for week in weeks_of_month)
