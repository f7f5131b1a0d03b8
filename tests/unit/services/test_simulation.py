"""400 days of two protected items under the scheduler, checked every day against the policy.

The clock moves a day at a time; each day one tick backs both items up (at 12:00 UTC; the
policy says 02:00, so every backup is a catch-up, as after downtime) and enforces retention.
The points that must remain are worked out here from every point ever taken, with plain
calendar arithmetic and no help from rsvault.policy: a point stays while it is younger than 7
days, or is a Sunday's and younger than 4 weeks, or is the month's chosen day's (the 1st for
one item, the first Sunday for the other) and less than 3 calendar months old; and the newest
always stays. The vault's manifests must be exactly the catalog's rows, every day.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.unit.services.support import (
    DAY,
    VAULT,
    daily_policy,
    item_row,
    manifests,
    packs,
    write_tree,
)

from rsvault.core.clock import ManualClock
from rsvault.services import jobs, policies, protection, recoverypoints, vaults
from rsvault.services.context import ServiceContext
from rsvault.services.jobs import JobFilter
from rsvault.services.scheduler import Scheduler
from rsvault.services.states import JobStatus, Operation, ProtectionState

# 400 days on SQLite: a leap day, and every month end, Sunday and month start of a year and
# more. PostgreSQL runs the same for 100 days (three monthly expiries): the catalog queries are
# the same, and at about 0.1 s a simulated day the full length twice is more than a unit test
# should cost.
DAYS = {"sqlite": 400, "postgresql": 100}
SUNDAY = 6


def first_sunday(day: date) -> bool:
    return day.weekday() == SUNDAY and day.day <= 7


def first_of_month(day: date) -> bool:
    return day.day == 1


MONTHLY: dict[str, tuple[dict[str, Any], Callable[[date], bool]]] = {
    "day-1": ({"months": 3, "daysOfMonth": [1]}, first_of_month),
    "first-sunday": (
        {"months": 3, "weeksOfMonth": ["First"], "weekdays": ["Sunday"]},
        first_sunday,
    ),
}


def months_later(moment: datetime, months: int) -> datetime:
    """The same wall time `months` calendar months on (the chosen days are all <= 7)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    assert moment.day <= calendar.monthrange(year, month)[1]
    return moment.replace(year=year, month=month)


def expected(
    taken: list[datetime], now: datetime, monthly: Callable[[date], bool]
) -> dict[datetime, set[str]]:
    """Each point that must remain at `now`, with the reasons it was given when taken."""
    out: dict[datetime, set[str]] = {}
    newest = max(taken)
    for moment in taken:
        day = moment.date()
        weekly, month_pick = day.weekday() == SUNDAY, monthly(day)
        alive = (
            moment == newest
            or now - moment < timedelta(days=7)
            or (weekly and now - moment < timedelta(weeks=4))
            or (month_pick and now < months_later(moment, 3))
        )
        if alive:
            out[moment] = (
                {"daily", "snapshot"}
                | ({"weekly"} if weekly else set())
                | ({"monthly"} if month_pick else set())
            )
    return out


@pytest.fixture
def clock() -> ManualClock:
    """From a Friday in December 2023: the leap day and every month of 2024 follow."""
    return ManualClock(datetime(2023, 12, 1, 12, tzinfo=UTC))


@pytest.fixture
def scheduler(ctx: ServiceContext) -> Iterator[Scheduler]:
    running = Scheduler(ctx)
    yield running
    running.close()


def test_400_days_keep_exactly_what_the_policy_says(
    ctx: ServiceContext, tmp_path: Path, clock: ManualClock, scheduler: Scheduler
) -> None:
    """Two items, one per way of choosing the monthly point, backed up by the same ticks."""
    days = DAYS[ctx.catalog.engine.dialect.name]
    vaults.create_vault(ctx, VAULT)
    sources = {}
    for name, (rule, _picked) in MONTHLY.items():
        document = daily_policy(7, weekly={"weeks": 4, "weekdays": ["Sunday"]}, monthly=rule)
        policies.create_policy(ctx, VAULT, name, document)
        sources[name] = write_tree(tmp_path / name, {"same": b"unchanging", "today": b""})
        protection.enable_for_files(ctx, VAULT, name, [str(sources[name])], name)

    taken: list[datetime] = []
    most_packs = 0
    for day in range(1, days + 1):
        for name, source in sources.items():  # every point adds a little data of its own
            write_tree(source, {"today": f"{name} day {day}".encode()})
        clock.advance(DAY)
        now = clock.now()
        report = scheduler.tick(wait=True)
        assert sorted(report.started) == sorted(MONTHLY), (day, report)
        assert not report.errors, (day, report.errors)
        taken.append(now)

        in_vault = manifests(ctx)
        every = recoverypoints.list_recovery_points(ctx, VAULT)
        assert in_vault == {p.name for p in every}, f"day {day}"
        for name, (_rule, picked) in MONTHLY.items():
            points = [p for p in every if p.item == name]
            want = expected(taken, now, picked)
            got = {datetime.fromisoformat(p.time): set(p.kept_for) for p in points}
            assert got == want, f"{name}, day {day} ({now:%a %Y-%m-%d}): kept {sorted(got)}"
            assert {p.kind for p in points} == {"Scheduled"}
        most_packs = max(most_packs, packs(ctx)[0])

    assert 10 <= len(want) <= 16  # 7 daily, 3-4 more Sundays, 2-3 months
    assert most_packs <= 2 * (16 + 3)  # prune keeps up: the data of expired points goes
    for name in MONTHLY:
        row = item_row(ctx, name)
        assert row.protection_state == ProtectionState.PROTECTED
        assert row.active_job is None
    since = clock.now() - timedelta(days=days)
    backups = jobs.list_jobs(ctx, VAULT, JobFilter(operation=Operation.BACKUP, start=since))
    assert len(backups) == 2 * days
    assert {j.status for j in backups} == {JobStatus.COMPLETED}
    assert vaults.check(ctx, VAULT).ok
