"""The JSON document of a policy, both ways: what users write and what the catalog stores.

camelCase keys, weekday and month names in English, times "HH:MM". An unknown key anywhere is
an error, so a misspelt "retention.dialy" fails loudly instead of silently keeping nothing.
Reading checks the shape here and Azure's rules in `validation`; every failure is
POLICY_INVALID naming the field by its path in the document.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import time
from enum import StrEnum
from typing import Any, NoReturn, TypeVar

from rsvault.policy.model import (
    LAST_DAY,
    MONTH_NAMES,
    WEEKDAY_NAMES,
    DailyRetention,
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
from rsvault.policy.validation import policy_invalid, validate_policy

_E = TypeVar("_E", bound=StrEnum)
_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_LAST = "Last"
_DAY_KEYS = frozenset({"daysOfMonth", "weeksOfMonth", "weekdays"})

# Azure's defaults when the document leaves instantRpRetentionDays out
_STANDARD_INSTANT_DAYS = 2
_WEEKLY_STANDARD_INSTANT_DAYS = 5
_ENHANCED_INSTANT_DAYS = 7


def parse_policy(document: Mapping[str, Any], name: str) -> Policy:
    """The policy a document describes; POLICY_INVALID naming the field if it is not allowed."""
    return validate_policy(_Reader(name).policy(document), name)


def policy_document(policy: Policy) -> dict[str, Any]:
    """The document of a policy; parse_policy(policy_document(p), name) == p."""
    return {
        "policyType": str(policy.policy_type),
        "schedule": _schedule_document(policy.schedule),
        "instantRpRetentionDays": policy.instant_rp_retention_days,
        "retention": _retention_document(policy.retention),
    }


def _schedule_document(schedule: Schedule) -> dict[str, Any]:
    out: dict[str, Any] = {"frequency": str(schedule.frequency)}
    if schedule.run_time is not None:
        out["time"] = _hhmm(schedule.run_time)
    if schedule.weekdays:
        out["weekdays"] = [WEEKDAY_NAMES[day] for day in schedule.weekdays]
    if schedule.hourly is not None:
        out["hourly"] = {
            "intervalHours": schedule.hourly.interval_hours,
            "windowStart": _hhmm(schedule.hourly.window_start),
            "windowHours": schedule.hourly.window_hours,
        }
    out["timeZone"] = schedule.time_zone
    return out


def _retention_document(retention: Retention) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if retention.daily is not None:
        out["daily"] = {"days": retention.daily.days}
    if retention.weekly is not None:
        weekdays = [WEEKDAY_NAMES[day] for day in retention.weekly.weekdays]
        out["weekly"] = {"weeks": retention.weekly.weeks, "weekdays": weekdays}
    if retention.monthly is not None:
        monthly = retention.monthly
        out["monthly"] = {"months": monthly.months} | _day_rule_document(
            monthly.days_of_month, monthly.weeks_of_month, monthly.weekdays
        )
    if retention.yearly is not None:
        yearly = retention.yearly
        months = [MONTH_NAMES[month - 1] for month in yearly.months_of_year]
        out["yearly"] = {"years": yearly.years, "monthsOfYear": months} | _day_rule_document(
            yearly.days_of_month, yearly.weeks_of_month, yearly.weekdays
        )
    return out


def _day_rule_document(
    days: tuple[int, ...], weeks: tuple[WeekOfMonth, ...], weekdays: tuple[int, ...]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if days:
        out["daysOfMonth"] = [_LAST if day == LAST_DAY else day for day in days]
    if weeks:
        out["weeksOfMonth"] = [str(week) for week in weeks]
    if weekdays:
        out["weekdays"] = [WEEKDAY_NAMES[day] for day in weekdays]
    return out


def _hhmm(moment: time) -> str:
    return f"{moment.hour:02d}:{moment.minute:02d}"


class _Reader:
    """Reads one document into the model, failing with the path of the first bad value."""

    def __init__(self, name: str) -> None:
        self._name = name

    def policy(self, document: object) -> Policy:
        top = self._object(
            document, "", {"schedule", "retention"}, {"policyType", "instantRpRetentionDays"}
        )
        policy_type = self._enum(top.get("policyType", "Standard"), "policyType", PolicyType)
        schedule = self._schedule(top["schedule"])
        retention = self._retention(top["retention"])
        if "instantRpRetentionDays" in top:
            instant_days = self._integer(top["instantRpRetentionDays"], "instantRpRetentionDays")
        else:
            instant_days = _default_instant_days(policy_type, schedule.frequency)
        return Policy(policy_type, schedule, retention, instant_days)

    def _schedule(self, value: object) -> Schedule:
        path = "schedule"
        raw = self._object(value, path, {"frequency"}, {"time", "weekdays", "hourly", "timeZone"})
        frequency = self._enum(raw["frequency"], f"{path}.frequency", Frequency)
        run_time = self._time(raw["time"], f"{path}.time") if "time" in raw else None
        weekdays = self._names(raw.get("weekdays", []), f"{path}.weekdays", WEEKDAY_NAMES)
        hourly = self._hourly(raw["hourly"]) if "hourly" in raw else None
        zone = self._text(raw.get("timeZone", "UTC"), f"{path}.timeZone")
        return Schedule(frequency, run_time, tuple(weekdays), hourly, zone)

    def _hourly(self, value: object) -> HourlySchedule:
        path = "schedule.hourly"
        raw = self._object(value, path, {"intervalHours", "windowStart", "windowHours"})
        return HourlySchedule(
            interval_hours=self._integer(raw["intervalHours"], f"{path}.intervalHours"),
            window_start=self._time(raw["windowStart"], f"{path}.windowStart"),
            window_hours=self._integer(raw["windowHours"], f"{path}.windowHours"),
        )

    def _retention(self, value: object) -> Retention:
        raw = self._object(value, "retention", set(), {"daily", "weekly", "monthly", "yearly"})
        return Retention(
            daily=self._daily(raw["daily"]) if "daily" in raw else None,
            weekly=self._weekly(raw["weekly"]) if "weekly" in raw else None,
            monthly=self._monthly(raw["monthly"]) if "monthly" in raw else None,
            yearly=self._yearly(raw["yearly"]) if "yearly" in raw else None,
        )

    def _daily(self, value: object) -> DailyRetention:
        raw = self._object(value, "retention.daily", {"days"})
        return DailyRetention(self._integer(raw["days"], "retention.daily.days"))

    def _weekly(self, value: object) -> WeeklyRetention:
        path = "retention.weekly"
        raw = self._object(value, path, {"weeks", "weekdays"})
        weekdays = self._names(raw["weekdays"], f"{path}.weekdays", WEEKDAY_NAMES)
        return WeeklyRetention(self._integer(raw["weeks"], f"{path}.weeks"), tuple(weekdays))

    def _monthly(self, value: object) -> MonthlyRetention:
        path = "retention.monthly"
        raw = self._object(value, path, {"months"}, _DAY_KEYS)
        days, weeks, weekdays = self._day_rule(raw, path)
        return MonthlyRetention(
            self._integer(raw["months"], f"{path}.months"), days, weeks, weekdays
        )

    def _yearly(self, value: object) -> YearlyRetention:
        path = "retention.yearly"
        raw = self._object(value, path, {"years", "monthsOfYear"}, _DAY_KEYS)
        years = self._integer(raw["years"], f"{path}.years")
        months = self._names(raw["monthsOfYear"], f"{path}.monthsOfYear", MONTH_NAMES)
        days, weeks, weekdays = self._day_rule(raw, path)
        return YearlyRetention(years, tuple(m + 1 for m in months), days, weeks, weekdays)

    def _day_rule(
        self, raw: Mapping[str, Any], path: str
    ) -> tuple[tuple[int, ...], tuple[WeekOfMonth, ...], tuple[int, ...]]:
        days_path, weeks_path = f"{path}.daysOfMonth", f"{path}.weeksOfMonth"
        days = [self._day_of_month(v, days_path) for v in self._array(raw, "daysOfMonth", path)]
        weeks = [
            self._enum(v, weeks_path, WeekOfMonth) for v in self._array(raw, "weeksOfMonth", path)
        ]
        weekdays = self._names(raw.get("weekdays", []), f"{path}.weekdays", WEEKDAY_NAMES)
        return tuple(days), tuple(weeks), tuple(weekdays)

    def _day_of_month(self, value: object, path: str) -> int:
        if value == _LAST and isinstance(value, str):
            return LAST_DAY
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value  # the upper bound is validation's, with the same words
        self._fail(path, f'must be 1 to 28 or "Last", got {value!r}')

    def _object(
        self,
        value: object,
        path: str,
        required: set[str],
        optional: set[str] | frozenset[str] = frozenset(),
    ) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self._fail(path or "$", f"must be an object, got {_kind(value)}")
        for key in value:
            if key not in required and key not in optional:
                self._fail(_join(path, str(key)), "is not a known key")
        for key in sorted(required):
            if key not in value:
                self._fail(_join(path, key), "is required")
        return value

    def _array(self, raw: Mapping[str, Any], key: str, path: str) -> list[Any]:
        value = raw.get(key, [])
        if not isinstance(value, list | tuple):
            self._fail(_join(path, key), f"must be a list, got {_kind(value)}")
        return list(value)

    def _names(self, value: object, path: str, names: tuple[str, ...]) -> list[int]:
        """Indexes of English names ("Monday" -> 0), spelt exactly as in `names`."""
        if not isinstance(value, list | tuple):
            self._fail(path, f"must be a list, got {_kind(value)}")
        indexes = []
        for item in value:
            if not isinstance(item, str) or item not in names:
                self._fail(path, f"must be names such as {names[0]}, got {item!r}")
            indexes.append(names.index(item))
        return indexes

    def _enum(self, value: object, path: str, kind: type[_E]) -> _E:
        for member in kind:
            if value == member.value and isinstance(value, str):
                return member
        spelt = ", ".join(member.value for member in kind)
        self._fail(path, f"must be one of {spelt}, got {value!r}")

    def _integer(self, value: object, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self._fail(path, f"must be a whole number, got {value!r}")
        return value

    def _text(self, value: object, path: str) -> str:
        if not isinstance(value, str):
            self._fail(path, f"must be a string, got {value!r}")
        return value

    def _time(self, value: object, path: str) -> time:
        match = _HHMM.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            self._fail(path, f'must be a time "HH:MM", got {value!r}')
        return time(int(match.group(1)), int(match.group(2)))

    def _fail(self, path: str, reason: str) -> NoReturn:
        raise policy_invalid(self._name, path, reason)


def _default_instant_days(policy_type: PolicyType, frequency: Frequency) -> int:
    if policy_type is PolicyType.ENHANCED:
        return _ENHANCED_INSTANT_DAYS
    if frequency is Frequency.WEEKLY:
        return _WEEKLY_STANDARD_INSTANT_DAYS
    return _STANDARD_INSTANT_DAYS


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: object) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return repr(value)
