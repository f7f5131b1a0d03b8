"""One-line summaries of a policy's schedule and retention, for tables."""

from __future__ import annotations

from collections.abc import Sequence

from rsvault.policy import (
    LAST_DAY,
    MONTH_NAMES,
    WEEKDAY_NAMES,
    Frequency,
    MonthlyRetention,
    Policy,
    YearlyRetention,
)


def _days(weekdays: Sequence[int]) -> str:
    return ",".join(WEEKDAY_NAMES[d][:3] for d in weekdays)


def schedule_summary(policy: Policy) -> str:
    schedule = policy.schedule
    zone = schedule.time_zone
    if schedule.frequency is Frequency.HOURLY and schedule.hourly is not None:
        hourly = schedule.hourly
        start = hourly.window_start.strftime("%H:%M")
        return f"every {hourly.interval_hours} h from {start} for {hourly.window_hours} h {zone}"
    at = schedule.run_time.strftime("%H:%M") if schedule.run_time else "?"
    if schedule.frequency is Frequency.WEEKLY:
        return f"weekly {_days(schedule.weekdays)} {at} {zone}"
    return f"daily {at} {zone}"


def _on(rule: MonthlyRetention | YearlyRetention) -> str:
    if rule.days_of_month:
        return "day " + ",".join("Last" if d == LAST_DAY else str(d) for d in rule.days_of_month)
    weeks = ",".join(w.value for w in rule.weeks_of_month)
    return f"{weeks} {_days(rule.weekdays)}"


def retention_summary(policy: Policy) -> str:
    retention = policy.retention
    parts = []
    if retention.daily:
        parts.append(f"daily {retention.daily.days}d")
    if retention.weekly:
        parts.append(f"weekly {retention.weekly.weeks}w ({_days(retention.weekly.weekdays)})")
    if retention.monthly:
        parts.append(f"monthly {retention.monthly.months}m ({_on(retention.monthly)})")
    if retention.yearly:
        months = ",".join(MONTH_NAMES[m - 1][:3] for m in retention.yearly.months_of_year)
        parts.append(f"yearly {retention.yearly.years}y ({months} {_on(retention.yearly)})")
    parts.append(f"snapshots {policy.instant_rp_retention_days}d")
    return ", ".join(parts)
