"""next_runs: strictly increasing, after `after`, at the wall-clock time, none missed."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.policy.strategies import ZONES, schedules

from rsvault.policy import Frequency, Schedule, next_runs

# naive bounds are how hypothesis takes them; the values drawn are aware, in UTC
afters = st.datetimes(
    datetime(1990, 1, 1),  # noqa: DTZ001
    datetime(2080, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
# the curated zones often, any zone of the tz database sometimes
any_zone = st.one_of(st.sampled_from(ZONES), st.timezone_keys())


def wall(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)


def exists(naive: datetime, zone: ZoneInfo) -> bool:
    """Whether a wall-clock time happens at all (not inside a spring-forward gap)."""
    return wall(naive.replace(tzinfo=zone).astimezone(UTC), zone) == naive


def first_instant(naive: datetime, zone: ZoneInfo) -> datetime:
    return naive.replace(tzinfo=zone, fold=0).astimezone(UTC)


def check_order(runs: list[datetime], after: datetime, count: int) -> None:
    assert len(runs) == count
    assert all(run.tzinfo is UTC for run in runs)
    assert all(a < b for a, b in zip([after, *runs], runs, strict=False))


@settings(max_examples=200)
@given(
    st.sampled_from([Frequency.DAILY, Frequency.WEEKLY]),
    any_zone,
    afters,
    st.integers(1, 20),
    st.data(),
)
def test_daily_and_weekly_runs(
    frequency: Frequency, zone_name: str, after: datetime, count: int, data: st.DataObject
) -> None:
    schedule: Schedule = data.draw(schedules(frequency, zone_name))
    assert schedule.run_time is not None
    zone = ZoneInfo(zone_name)
    runs = next_runs(schedule, after, count)
    check_order(runs, after, count)
    # Independently: every date's run time that exists, on a scheduled weekday, in the span
    days = frozenset(schedule.weekdays) if frequency is Frequency.WEEKLY else frozenset(range(7))
    expected = []
    day = wall(after, zone).date() - timedelta(days=1)
    while day <= wall(runs[-1], zone).date():
        naive = datetime.combine(day, schedule.run_time)
        if day.weekday() in days and exists(naive, zone):
            moment = first_instant(naive, zone)
            if after < moment <= runs[-1]:
                expected.append(moment)
        day += timedelta(days=1)
    assert set(expected) <= set(runs)
    for run in set(runs) - set(expected):  # only a time that does not exist, moved past its gap
        assert _moved_past_a_gap(run, schedule.run_time, zone)


def _moved_past_a_gap(run: datetime, at: time, zone: ZoneInfo) -> bool:
    local = wall(run, zone)
    for day in (local.date(), local.date() - timedelta(days=1)):
        naive = datetime.combine(day, at)
        if not exists(naive, zone) and naive < local <= naive + timedelta(hours=24):
            return True
    return False


# no zone with a gap of a day or more here: inside one, hourly slots can meet
hourly_zones = st.sampled_from([zone for zone in ZONES if zone != "Pacific/Apia"])


@settings(max_examples=150)
@given(hourly_zones, afters, st.integers(1, 12), st.data())
def test_hourly_runs(zone_name: str, after: datetime, count: int, data: st.DataObject) -> None:
    schedule: Schedule = data.draw(schedules(Frequency.HOURLY, zone_name))
    hourly = schedule.hourly
    assert hourly is not None
    zone = ZoneInfo(zone_name)
    runs = next_runs(schedule, after, count)
    check_order(runs, after, count)
    start = datetime.combine(date(2000, 1, 1), hourly.window_start)
    slot_times = {
        (start + timedelta(hours=h)).time()
        for h in range(0, hourly.window_hours, hourly.interval_hours)
    }
    # Independently: every quarter hour of UTC in the span whose first-occurrence wall time is
    # a slot (every zone's offset has been a multiple of 15 minutes since 1990)
    moment = after.replace(minute=after.minute // 15 * 15, second=0, microsecond=0)
    expected = []
    while moment <= runs[-1]:
        local = moment.astimezone(zone)
        if moment > after and local.fold == 0 and local.time().replace(tzinfo=None) in slot_times:
            expected.append(moment)
        moment += timedelta(minutes=15)
    assert set(expected) <= set(runs)
    for run in set(runs) - set(expected):
        assert any(_moved_past_a_gap(run, slot, zone) for slot in slot_times)


def transitional_times(zone: ZoneInfo, year: int) -> list[datetime]:
    """Half-hour wall-clock times of `year` that do not exist or happen twice in `zone`."""
    out = []
    day = date(year, 1, 1)
    while day.year == year:
        noon, next_noon = (datetime.combine(day + timedelta(days=n), time(12)) for n in (0, 1))
        if zone.utcoffset(noon) != zone.utcoffset(next_noon):
            for n in range(96):  # this day and the next: a change at 24:00 repeats the 23:xx
                naive = datetime.combine(day, time()) + timedelta(minutes=30 * n)
                fold0 = naive.replace(tzinfo=zone, fold=0).utcoffset()
                if fold0 != naive.replace(tzinfo=zone, fold=1).utcoffset():
                    out.append(naive)
        day += timedelta(days=1)
    return out


dst_zones = st.sampled_from(
    [zone for zone in ZONES if zone not in ("UTC", "Asia/Kolkata", "Asia/Kathmandu")]
)


@settings(max_examples=150)
@given(dst_zones, st.integers(1995, 2075), st.data())
def test_a_time_the_clock_change_skips_or_repeats_runs_once_before_the_change(
    zone_name: str, year: int, data: st.DataObject
) -> None:
    zone = ZoneInfo(zone_name)
    candidates = transitional_times(zone, year)
    if not candidates:
        return  # this zone kept one offset all that year
    naive = data.draw(st.sampled_from(candidates))
    schedule = Schedule(Frequency.DAILY, naive.time(), time_zone=zone_name)
    runs = next_runs(schedule, (naive - timedelta(days=2)).replace(tzinfo=UTC), 4)
    # the offset in force before the change (a day earlier) and after it (a day later)
    before = zone.utcoffset(naive - timedelta(days=1))
    after = zone.utcoffset(naive + timedelta(days=1))
    assert before is not None
    assert after is not None
    expected = (naive - before).replace(tzinfo=UTC)
    assert expected in runs
    if exists(naive, zone):  # repeated: only the first occurrence runs
        assert (naive - after).replace(tzinfo=UTC) not in runs
    else:  # skipped: as far past the change as the time was past its start
        assert wall(expected, zone) == naive + (after - before)
