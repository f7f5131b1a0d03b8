"""How long each recovery point is kept, Azure's way: tags given by when the point was taken.

On each local date (in the policy's zone) the latest scheduled point is the day's
representative. It is tagged "daily", and also "weekly", "monthly" or "yearly" when its date
is one those rules pick; each tag keeps it for its own span of calendar time. Every scheduled
point is kept `instant_rp_retention_days` days ("snapshot"), which is what keeps the other
points of an hourly day. An on-demand point is kept until the date its caller gave
("retain-until"). A point expires when its last tag does.

The representative always outlives the other scheduled points of its date (it is later and
carries at least their snapshot span), so pruning never promotes a different point to
representative: deciding again on the surviving points gives the same answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from rsvault.policy.dates import add_months, day_matches
from rsvault.policy.model import Policy
from rsvault.policy.wallclock import instant, wall_time, zone_of


class Reason(StrEnum):
    """Why a point is kept, in the order reasons are listed."""

    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    YEARLY = "yearly"
    SNAPSHOT = "snapshot"
    RETAIN_UNTIL = "retain-until"
    LATEST = "latest"


@dataclass(frozen=True, slots=True)
class PointFacts:
    """What retention needs to know of a recovery point. Times are timezone-aware."""

    name: str
    time: datetime
    on_demand: bool = False
    retain_until: datetime | None = None  # on-demand only; None keeps it for ever


@dataclass(frozen=True, slots=True)
class Expiry:
    """When a point expires (None: never) and every tag it was given."""

    at: datetime | None
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Decision:
    """Keep or delete one point now; `reasons` are the tags still in force, then "latest"."""

    name: str
    keep: bool
    reasons: tuple[str, ...]
    expiry: datetime | None


@dataclass(frozen=True, slots=True)
class _Tag:
    reason: Reason
    until: datetime | None  # None: never ends


def expiry_of(policy: Policy, points: Sequence[PointFacts]) -> dict[str, Expiry]:
    """Each point's expiry by name. Points of other dates never change a point's expiry."""
    return {name: _expiry(tags) for name, tags in _tags_of(policy, points).items()}


def decide(policy: Policy, points: Sequence[PointFacts], now: datetime) -> list[Decision]:
    """Keep or delete each point at `now`, in the order given.

    A point is kept while now is before its expiry. The newest point is kept whatever its
    expiry, so an item is never left without a recovery point.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    tags = _tags_of(policy, points)
    newest = max((point.time for point in points), default=None)
    decisions = []
    for point in points:
        point_tags = tags[point.name]
        reasons = [str(tag.reason) for tag in point_tags if tag.until is None or now < tag.until]
        if point.time == newest:  # ties are all kept: none of them is older
            reasons.append(str(Reason.LATEST))
        expiry = _expiry(point_tags).at
        decisions.append(Decision(point.name, bool(reasons), tuple(reasons), expiry))
    return decisions


def _tags_of(policy: Policy, points: Sequence[PointFacts]) -> dict[str, tuple[_Tag, ...]]:
    zone = zone_of(policy.schedule.time_zone)
    local = {point.name: wall_time(point.time, zone) for point in points}
    if len(local) != len(points):
        raise ValueError("recovery point names must be unique")
    representatives = _representatives(points, local)
    tags: dict[str, tuple[_Tag, ...]] = {}
    for point in points:
        if point.on_demand:
            tags[point.name] = (_on_demand_tag(point),)
        else:
            is_rep = point.name in representatives
            tags[point.name] = _scheduled_tags(policy, local[point.name], zone, is_rep)
    return tags


def _representatives(points: Sequence[PointFacts], local: dict[str, datetime]) -> set[str]:
    """The name of the latest scheduled point of each local date."""
    latest: dict[date, PointFacts] = {}
    for point in points:
        if point.on_demand:
            continue
        day = local[point.name].date()
        held = latest.get(day)
        if held is None or (point.time, point.name) > (held.time, held.name):
            latest[day] = point
    return {point.name for point in latest.values()}


def _on_demand_tag(point: PointFacts) -> _Tag:
    if point.retain_until is not None and point.retain_until.tzinfo is None:
        raise ValueError(f"retain_until of {point.name} must be timezone-aware")
    return _Tag(Reason.RETAIN_UNTIL, point.retain_until)


def _scheduled_tags(
    policy: Policy, local: datetime, zone: ZoneInfo, representative: bool
) -> tuple[_Tag, ...]:
    tags: list[_Tag] = []
    retention = policy.retention
    if representative:
        day = local.date()
        if retention.daily is not None:
            tags.append(_Tag(Reason.DAILY, _later(local, zone, days=retention.daily.days)))
        weekly = retention.weekly
        if weekly is not None and day.weekday() in weekly.weekdays:
            tags.append(_Tag(Reason.WEEKLY, _later(local, zone, days=7 * weekly.weeks)))
        monthly = retention.monthly
        if monthly is not None and day_matches(
            day, monthly.days_of_month, monthly.weeks_of_month, monthly.weekdays
        ):
            tags.append(_Tag(Reason.MONTHLY, _later(local, zone, months=monthly.months)))
        yearly = retention.yearly
        if (
            yearly is not None
            and day.month in yearly.months_of_year
            and day_matches(day, yearly.days_of_month, yearly.weeks_of_month, yearly.weekdays)
        ):
            tags.append(_Tag(Reason.YEARLY, _later(local, zone, months=12 * yearly.years)))
    snapshot_days = policy.instant_rp_retention_days
    tags.append(_Tag(Reason.SNAPSHOT, _later(local, zone, days=snapshot_days)))
    return tuple(tags)


def _later(local: datetime, zone: ZoneInfo, *, days: int = 0, months: int = 0) -> datetime | None:
    """The instant of the same wall-clock time that many calendar days and months later.

    Past the year 9999 datetime cannot count; that far off is "never" for any real purpose.
    """
    try:
        return instant(add_months(local + timedelta(days=days), months), zone)
    except (OverflowError, ValueError):
        return None


def _expiry(tags: tuple[_Tag, ...]) -> Expiry:
    reasons = tuple(str(tag.reason) for tag in tags)
    untils = [tag.until for tag in tags]
    if any(until is None for until in untils):
        return Expiry(None, reasons)
    return Expiry(max(until for until in untils if until is not None), reasons)
