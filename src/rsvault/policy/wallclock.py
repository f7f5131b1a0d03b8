"""Wall-clock times in a policy's zone, and the one rule that turns them into instants.

A policy speaks in local wall-clock time, which twice a year is not a one-to-one map onto UTC.
The rule, used by the schedule and by retention alike so that they always agree:
- a time that does not exist (spring forward) is read with the offset in force before the gap,
  so it lands as far past the gap's end as it was past its start (02:30 -> 03:30);
- a time that happens twice (fall back) means its first occurrence.
Both are what `fold=0` means in PEP 495, which zoneinfo implements.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Area/Location names, plus the few one-word ones (UTC, GB, ...). A guard before zoneinfo so
# that a path such as "../x" is refused as a name rather than looked for as a file.
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*")


def find_zone(name: str) -> ZoneInfo | None:
    """The zone of an IANA name, or None if there is no such zone."""
    if not _ZONE_NAME.fullmatch(name):
        return None
    try:
        return ZoneInfo(name)  # zoneinfo caches each zone after its first read
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def zone_of(name: str) -> ZoneInfo:
    """The zone of a name that validation already accepted."""
    zone = find_zone(name)
    if zone is None:
        raise ValueError(f"unknown time zone {name!r}")
    return zone


def instant(local: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a naive local wall-clock time in `zone` (see the module's rule)."""
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def wall_time(moment: datetime, zone: ZoneInfo) -> datetime:
    """The naive local wall-clock time of an aware instant."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime is ambiguous; pass an aware one")
    return moment.astimezone(zone).replace(tzinfo=None, fold=0)
