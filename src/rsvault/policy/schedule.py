"""When the next backups run: the scheduled instants after a given moment.

Run times are wall-clock times in the policy's zone, and follow daylight saving time (Azure
keeps a fixed UTC time and asks the user to edit the policy twice a year; we do not). Local
times that do not exist or happen twice follow `wallclock`'s rule. The work is proportional
to the number of runs asked for, never to the distance from any origin.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from rsvault.policy.model import Frequency, HourlySchedule, Schedule
from rsvault.policy.wallclock import instant, wall_time, zone_of

_DAY = timedelta(days=1)


def next_runs(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    """The next `count` scheduled instants strictly after `after`, ascending, in UTC."""
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    zone = zone_of(schedule.time_zone)
    after_utc = after.astimezone(UTC)
    # The day before: a run on it can still fall after `after` (an hourly window that crosses
    # midnight, or a time pushed past midnight by a gap).
    first_day = wall_time(after_utc, zone).date() - _DAY
    runs: list[datetime] = []
    if count == 0:
        return runs
    floor = after_utc
    for run in _runs_from(schedule, zone, first_day):
        # `> floor`, not `> after`: where a zone skipped a whole day (Pacific/Apia, 2011), a
        # time in the gap lands on the next day's run, which must not run twice
        if run > floor:
            runs.append(run)
            floor = run
            if len(runs) == count:
                break
    return runs


def _runs_from(schedule: Schedule, zone: ZoneInfo, day: date) -> Iterator[datetime]:
    """Every run from the local date `day` on, in order, without end."""
    if schedule.frequency is Frequency.HOURLY:
        if schedule.hourly is None:
            raise ValueError("an Hourly schedule needs its hourly window")
        return _hourly_runs(schedule.hourly, zone, day)
    if schedule.run_time is None:
        raise ValueError(f"a {schedule.frequency} schedule needs a run time")
    weekdays = frozenset(schedule.weekdays) if schedule.frequency is Frequency.WEEKLY else None
    if weekdays is not None and not weekdays:
        raise ValueError("a Weekly schedule needs at least one weekday")
    return _daily_runs(schedule.run_time, weekdays, zone, day)


def _daily_runs(
    run_time: time, weekdays: frozenset[int] | None, zone: ZoneInfo, day: date
) -> Iterator[datetime]:
    """One run a day at `run_time`, on `weekdays` only when given."""
    while True:
        if weekdays is None or day.weekday() in weekdays:
            yield instant(datetime.combine(day, run_time), zone)
        day += _DAY


def _hourly_runs(hourly: HourlySchedule, zone: ZoneInfo, day: date) -> Iterator[datetime]:
    """Each day's slots window_start, + interval, ... within [start, start + window).

    Slots step in wall-clock hours, like the daily run time, so "08:00 every 4 h" stays
    08:00, 12:00, 16:00 all year. A window may run past midnight into the next day; windows
    never overlap because they last at most 24 h.
    """
    offsets = [
        timedelta(hours=hours) for hours in range(0, hourly.window_hours, hourly.interval_hours)
    ]
    while True:
        start = datetime.combine(day, hourly.window_start)
        for offset in offsets:
            yield instant(start + offset, zone)
        day += _DAY
