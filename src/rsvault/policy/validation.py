"""Which policies are allowed: Azure Backup's rules for VM policies, each failure naming its field.

Fields are named by their path in the JSON document (`retention.daily.days`), because that is
what the user wrote. Checks run in document order and the first failure is raised, so a fix
never hides behind an unrelated complaint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import time
from typing import TypeVar

from rsvault.errors import Code, RsvaultError
from rsvault.policy.model import (
    LAST_DAY,
    WEEKDAY_NAMES,
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
from rsvault.policy.wallclock import find_zone

_T = TypeVar("_T")

Problem = tuple[str, str]
"""(field, reason)."""

HOURLY_INTERVALS = (4, 6, 8, 12)
LATEST_WINDOW_START = time(19, 30)
STANDARD_INSTANT_DAYS = (1, 5)
WEEKLY_STANDARD_INSTANT_DAYS = 5  # Azure fixes it: a week between backups needs 5 days' cover
ENHANCED_INSTANT_DAYS = (1, 30)
DAILY_DAYS = (7, 9999)
WEEKLY_WEEKS = (1, 5163)
MONTHLY_MONTHS = (1, 1188)
YEARLY_YEARS = (1, 99)


def policy_invalid(name: str, field: str, reason: str) -> RsvaultError:
    return RsvaultError(Code.POLICY_INVALID, name=name, field=field, reason=reason)


def validate_policy(policy: Policy, name: str) -> Policy:
    """The policy itself if Azure's rules allow it; else POLICY_INVALID for the first failure."""
    for field, reason in policy_problems(policy):
        raise policy_invalid(name, field, reason)
    return policy


def policy_problems(policy: Policy) -> Iterator[Problem]:
    """Every failure, in document order; later ones may follow from earlier ones."""
    yield from _schedule_problems(policy.schedule, policy.policy_type)
    yield from _instant_problems(policy)
    yield from _retention_problems(policy.retention, policy.schedule)


def _schedule_problems(schedule: Schedule, policy_type: PolicyType) -> Iterator[Problem]:
    if find_zone(schedule.time_zone) is None:
        yield (
            "schedule.timeZone",
            f"must be an IANA time zone such as Europe/Berlin, got {schedule.time_zone!r}",
        )
    if schedule.frequency is Frequency.HOURLY:
        yield from _hourly_frequency_problems(schedule, policy_type)
        return
    if schedule.run_time is None:
        yield "schedule.time", f"is required for a {schedule.frequency} schedule"
    elif not _on_half_hour(schedule.run_time):
        yield "schedule.time", f"must be on the hour or half hour, got {_hhmm(schedule.run_time)}"
    if schedule.hourly is not None:
        yield "schedule.hourly", "is allowed only for an Hourly schedule"
    if schedule.frequency is Frequency.DAILY and schedule.weekdays:
        yield "schedule.weekdays", "is not allowed for a Daily schedule"
    if schedule.frequency is Frequency.WEEKLY:
        yield from _weekday_problems("schedule.weekdays", schedule.weekdays)


def _hourly_frequency_problems(schedule: Schedule, policy_type: PolicyType) -> Iterator[Problem]:
    if policy_type is not PolicyType.ENHANCED:
        yield "schedule.frequency", "Hourly needs an Enhanced policy"
    if schedule.run_time is not None:
        yield "schedule.time", "is not allowed for an Hourly schedule; set hourly.windowStart"
    if schedule.weekdays:
        yield "schedule.weekdays", "is not allowed for an Hourly schedule"
    if schedule.hourly is None:
        yield "schedule.hourly", "is required for an Hourly schedule"
    else:
        yield from _hourly_problems(schedule.hourly)


def _hourly_problems(hourly: HourlySchedule) -> Iterator[Problem]:
    if hourly.interval_hours not in HOURLY_INTERVALS:
        yield "schedule.hourly.intervalHours", f"must be 4, 6, 8 or 12, got {hourly.interval_hours}"
    start = hourly.window_start
    if not _on_half_hour(start) or start > LATEST_WINDOW_START:
        yield (
            "schedule.hourly.windowStart",
            f"must be 00:00 to 19:30 in 30-minute steps, got {_hhmm(start)}",
        )
    # 24 h as well as Azure's 4-23 h: the documented full-day window
    if not 4 <= hourly.window_hours <= 24:
        yield "schedule.hourly.windowHours", f"must be 4 to 24 hours, got {hourly.window_hours}"
    elif hourly.window_hours < hourly.interval_hours:
        yield (
            "schedule.hourly.windowHours",
            f"must be at least intervalHours ({hourly.interval_hours}), got {hourly.window_hours}",
        )


def _instant_problems(policy: Policy) -> Iterator[Problem]:
    days = policy.instant_rp_retention_days
    field = "instantRpRetentionDays"
    if policy.policy_type is PolicyType.ENHANCED:
        yield from _range_problems(
            field, days, ENHANCED_INSTANT_DAYS, "days for an Enhanced policy"
        )
    elif policy.schedule.frequency is Frequency.WEEKLY:
        if days != WEEKLY_STANDARD_INSTANT_DAYS:
            yield field, f"must be 5 for a Standard policy with a Weekly schedule, got {days}"
    else:
        yield from _range_problems(field, days, STANDARD_INSTANT_DAYS, "days for a Standard policy")


def _retention_problems(retention: Retention, schedule: Schedule) -> Iterator[Problem]:
    weekly_schedule = schedule.frequency is Frequency.WEEKLY
    # with a weekly schedule, a retention day must be a backup day or it would never match
    scheduled = schedule.weekdays if weekly_schedule else None
    if weekly_schedule and retention.daily is not None:
        yield "retention.daily", "is not allowed with a Weekly schedule"
    if not weekly_schedule and retention.daily is None:
        yield "retention.daily", f"is required for a {schedule.frequency} schedule"
    if retention.daily is not None:
        yield from _range_problems("retention.daily.days", retention.daily.days, DAILY_DAYS, "days")
    if weekly_schedule and retention.weekly is None:
        yield "retention.weekly", "is required for a Weekly schedule"
    if retention.weekly is not None:
        yield from _weekly_problems(retention.weekly, scheduled)
    if retention.monthly is not None:
        yield from _monthly_problems(retention.monthly, scheduled)
    if retention.yearly is not None:
        yield from _yearly_problems(retention.yearly, scheduled)


def _weekly_problems(weekly: WeeklyRetention, scheduled: Sequence[int] | None) -> Iterator[Problem]:
    yield from _range_problems("retention.weekly.weeks", weekly.weeks, WEEKLY_WEEKS, "weeks")
    yield from _weekday_problems("retention.weekly.weekdays", weekly.weekdays, scheduled)


def _monthly_problems(
    monthly: MonthlyRetention, scheduled: Sequence[int] | None
) -> Iterator[Problem]:
    path = "retention.monthly"
    yield from _range_problems(f"{path}.months", monthly.months, MONTHLY_MONTHS, "months")
    yield from _day_rule_problems(
        path, monthly.days_of_month, monthly.weeks_of_month, monthly.weekdays, scheduled
    )


def _yearly_problems(yearly: YearlyRetention, scheduled: Sequence[int] | None) -> Iterator[Problem]:
    path = "retention.yearly"
    yield from _range_problems(f"{path}.years", yearly.years, YEARLY_YEARS, "years")
    yield from _month_problems(f"{path}.monthsOfYear", yearly.months_of_year)
    yield from _day_rule_problems(
        path, yearly.days_of_month, yearly.weeks_of_month, yearly.weekdays, scheduled
    )


def _day_rule_problems(
    path: str,
    days: Sequence[int],
    weeks: Sequence[WeekOfMonth],
    weekdays: Sequence[int],
    scheduled: Sequence[int] | None,
) -> Iterator[Problem]:
    """Day-based XOR week-based; with a weekly schedule only week-based on backup days."""
    if days and scheduled is not None:
        yield (
            f"{path}.daysOfMonth",
            "is not allowed with a Weekly schedule (that day may not be a backup day); "
            "use weeksOfMonth and weekdays",
        )
    if days:
        if weeks or weekdays:
            other = "weeksOfMonth" if weeks else "weekdays"
            yield f"{path}.{other}", "is not allowed with daysOfMonth; choose one of the two"
        yield from _days_of_month_problems(f"{path}.daysOfMonth", days)
        return
    if not weeks and not weekdays:
        yield f"{path}.daysOfMonth", "is required, or weeksOfMonth with weekdays"
        return
    yield from _weeks_of_month_problems(f"{path}.weeksOfMonth", weeks)
    yield from _weekday_problems(f"{path}.weekdays", weekdays, scheduled)


def _days_of_month_problems(field: str, days: Sequence[int]) -> Iterator[Problem]:
    for day in days:
        if not LAST_DAY <= day <= 28:
            yield field, f"must be 1 to 28 or Last, got {day}"
    yield from _duplicate_problems(field, days, lambda day: "Last" if day == LAST_DAY else day)


def _weeks_of_month_problems(field: str, weeks: Sequence[WeekOfMonth]) -> Iterator[Problem]:
    if not weeks:
        yield field, "needs at least one week of the month"
    yield from _duplicate_problems(field, weeks, str)


def _month_problems(field: str, months: Sequence[int]) -> Iterator[Problem]:
    if not months:
        yield field, "needs at least one month"
    for month in months:
        if not 1 <= month <= 12:
            yield field, f"must be months 1 to 12, got {month}"
    yield from _duplicate_problems(field, months, str)


def _weekday_problems(
    field: str, weekdays: Sequence[int], allowed: Sequence[int] | None = None
) -> Iterator[Problem]:
    """One to seven distinct weekdays; with `allowed`, only those (the scheduled days)."""
    if not weekdays:
        yield field, "needs at least one weekday"
    for day in weekdays:
        if not 0 <= day <= 6:
            yield field, f"must be weekdays 0 (Monday) to 6 (Sunday), got {day}"
        elif allowed is not None and day not in allowed:
            yield field, f"{WEEKDAY_NAMES[day]} is not a scheduled backup day"
    yield from _duplicate_problems(field, weekdays, _weekday_name)


def _weekday_name(day: int) -> str:
    return WEEKDAY_NAMES[day] if 0 <= day <= 6 else str(day)


def _duplicate_problems(
    field: str, values: Sequence[_T], spell: Callable[[_T], object]
) -> Iterator[Problem]:
    seen: set[_T] = set()
    for value in values:
        if value in seen:
            yield field, f"lists {spell(value)} twice"
            return
        seen.add(value)


def _range_problems(
    field: str, value: int, bounds: tuple[int, int], unit: str
) -> Iterator[Problem]:
    low, high = bounds
    if not low <= value <= high:
        yield field, f"must be {low} to {high} {unit}, got {value}"


def _on_half_hour(moment: time) -> bool:
    return (
        moment.tzinfo is None
        and moment.minute in (0, 30)
        and not moment.second
        and not moment.microsecond
    )


def _hhmm(moment: time) -> str:
    return moment.isoformat(timespec="minutes" if not moment.second else "seconds")
