"""Every rule a policy must follow: a bad document fails with POLICY_INVALID naming its field."""

from __future__ import annotations

from datetime import time

import pytest
from tests.unit.policy.samples import BASES, DAILY, DELETE, HOURLY, WEEKLY, changed

from rsvault.errors import Code, RsvaultError
from rsvault.policy import (
    WEEKDAY_NAMES,
    DailyRetention,
    Frequency,
    MonthlyRetention,
    Policy,
    PolicyType,
    Retention,
    Schedule,
    WeeklyRetention,
    YearlyRetention,
    parse_policy,
    policy_problems,
    validate_policy,
)


def failure(doc: object) -> RsvaultError:
    with pytest.raises(RsvaultError) as caught:
        parse_policy(doc, "nightly")  # type: ignore[arg-type]
    return caught.value


@pytest.mark.parametrize("base", sorted(BASES))
def test_the_base_documents_are_valid(base: str) -> None:
    parse_policy(BASES[base], "nightly")


# (base, path changed, new value, field named)
BAD = [
    # run time and time zone
    ("daily", "schedule.time", "02:15", "schedule.time"),
    ("daily", "schedule.time", "2:00", "schedule.time"),
    ("daily", "schedule.time", "24:00", "schedule.time"),
    ("daily", "schedule.time", 200, "schedule.time"),
    ("daily", "schedule.timeZone", "Mars/Olympus_Mons", "schedule.timeZone"),
    ("daily", "schedule.timeZone", "../../etc/passwd", "schedule.timeZone"),
    ("daily", "schedule.timeZone", "America", "schedule.timeZone"),
    ("daily", "schedule.timeZone", "", "schedule.timeZone"),
    ("daily", "schedule.timeZone", "+02:00", "schedule.timeZone"),
    # daily schedule
    ("daily", "schedule.time", DELETE, "schedule.time"),
    ("daily", "schedule.weekdays", ["Sunday"], "schedule.weekdays"),
    ("daily", "schedule.hourly", HOURLY["schedule"]["hourly"], "schedule.hourly"),
    ("daily", "schedule.frequency", "Monthly", "schedule.frequency"),
    # weekly schedule
    ("weekly", "schedule.time", DELETE, "schedule.time"),
    ("weekly", "schedule.weekdays", DELETE, "schedule.weekdays"),
    ("weekly", "schedule.weekdays", [], "schedule.weekdays"),
    ("weekly", "schedule.weekdays", ["Sunday", "Sunday"], "schedule.weekdays"),
    ("weekly", "schedule.weekdays", ["Sun"], "schedule.weekdays"),
    ("weekly", "schedule.weekdays", ["sunday"], "schedule.weekdays"),
    ("weekly", "schedule.weekdays", "Sunday", "schedule.weekdays"),
    # hourly schedule
    ("hourly", "policyType", "Standard", "schedule.frequency"),
    ("hourly", "schedule.hourly.intervalHours", 5, "schedule.hourly.intervalHours"),
    ("hourly", "schedule.hourly.intervalHours", 24, "schedule.hourly.intervalHours"),
    ("hourly", "schedule.hourly.windowStart", "20:00", "schedule.hourly.windowStart"),
    ("hourly", "schedule.hourly.windowStart", "08:15", "schedule.hourly.windowStart"),
    ("hourly", "schedule.hourly.windowHours", 3, "schedule.hourly.windowHours"),
    ("hourly", "schedule.hourly.windowHours", 25, "schedule.hourly.windowHours"),
    ("hourly", "schedule.hourly.windowStart", DELETE, "schedule.hourly.windowStart"),
    ("hourly", "schedule.time", "08:00", "schedule.time"),
    ("hourly", "schedule.weekdays", ["Sunday"], "schedule.weekdays"),
    ("hourly", "schedule.hourly", DELETE, "schedule.hourly"),
    # retention counts
    ("daily", "retention.daily.days", 6, "retention.daily.days"),
    ("daily", "retention.daily.days", 10000, "retention.daily.days"),
    ("daily", "retention.daily.days", "30", "retention.daily.days"),
    ("daily", "retention.daily.days", 30.0, "retention.daily.days"),
    ("daily", "retention.daily.days", True, "retention.daily.days"),
    ("daily", "retention.weekly.weeks", 0, "retention.weekly.weeks"),
    ("daily", "retention.weekly.weeks", 5164, "retention.weekly.weeks"),
    ("daily", "retention.weekly.weekdays", [], "retention.weekly.weekdays"),
    ("daily", "retention.monthly.months", 0, "retention.monthly.months"),
    ("daily", "retention.monthly.months", 1189, "retention.monthly.months"),
    ("daily", "retention.yearly.years", 0, "retention.yearly.years"),
    ("daily", "retention.yearly.years", 100, "retention.yearly.years"),
    # days of month, day-based XOR week-based
    ("daily", "retention.monthly.daysOfMonth", [29], "retention.monthly.daysOfMonth"),
    ("daily", "retention.monthly.daysOfMonth", [0], "retention.monthly.daysOfMonth"),
    ("daily", "retention.monthly.daysOfMonth", ["last"], "retention.monthly.daysOfMonth"),
    ("daily", "retention.monthly.daysOfMonth", [1, 1], "retention.monthly.daysOfMonth"),
    ("daily", "retention.monthly.daysOfMonth", [], "retention.monthly.daysOfMonth"),
    ("daily", "retention.monthly.weeksOfMonth", ["First"], "retention.monthly.weeksOfMonth"),
    ("daily", "retention.monthly.weekdays", ["Monday"], "retention.monthly.weekdays"),
    ("daily", "retention.yearly.weekdays", DELETE, "retention.yearly.weekdays"),
    ("daily", "retention.yearly.weeksOfMonth", DELETE, "retention.yearly.weeksOfMonth"),
    ("daily", "retention.yearly.weeksOfMonth", ["Fifth"], "retention.yearly.weeksOfMonth"),
    ("daily", "retention.yearly.weeksOfMonth", ["Last", "Last"], "retention.yearly.weeksOfMonth"),
    ("daily", "retention.yearly.monthsOfYear", [], "retention.yearly.monthsOfYear"),
    ("daily", "retention.yearly.monthsOfYear", ["Jan"], "retention.yearly.monthsOfYear"),
    ("daily", "retention.yearly.monthsOfYear", DELETE, "retention.yearly.monthsOfYear"),
    # which retention a schedule needs or forbids
    ("daily", "retention.daily", DELETE, "retention.daily"),
    ("hourly", "retention.daily", DELETE, "retention.daily"),
    ("weekly", "retention.daily", {"days": 30}, "retention.daily"),
    ("weekly", "retention.weekly", DELETE, "retention.weekly"),
    ("weekly", "retention.weekly.weekdays", ["Monday"], "retention.weekly.weekdays"),
    ("weekly", "retention.monthly.weekdays", ["Friday"], "retention.monthly.weekdays"),
    ("weekly", "retention.yearly.weekdays", ["Saturday"], "retention.yearly.weekdays"),
    (
        "weekly",
        "retention.monthly",
        {"months": 6, "daysOfMonth": [1]},
        "retention.monthly.daysOfMonth",
    ),
    (
        "weekly",
        "retention.yearly",
        {"years": 2, "monthsOfYear": ["May"], "daysOfMonth": ["Last"]},
        "retention.yearly.daysOfMonth",
    ),
    # instant snapshots
    ("daily", "instantRpRetentionDays", 0, "instantRpRetentionDays"),
    ("daily", "instantRpRetentionDays", 6, "instantRpRetentionDays"),
    ("weekly", "instantRpRetentionDays", 2, "instantRpRetentionDays"),
    ("hourly", "instantRpRetentionDays", 0, "instantRpRetentionDays"),
    ("hourly", "instantRpRetentionDays", 31, "instantRpRetentionDays"),
    # shape: unknown keys, missing keys, wrong kinds
    ("daily", "retentoin", {}, "retentoin"),
    ("daily", "schedule.tim", "02:00", "schedule.tim"),
    ("daily", "retention.dialy", {"days": 30}, "retention.dialy"),
    ("daily", "retention.daily.count", 30, "retention.daily.count"),
    ("hourly", "schedule.hourly.interval", 4, "schedule.hourly.interval"),
    ("daily", "schedule", DELETE, "schedule"),
    ("daily", "retention", DELETE, "retention"),
    ("daily", "schedule", ["Daily"], "schedule"),
    ("daily", "retention.daily", 30, "retention.daily"),
    ("daily", "policyType", "standard", "policyType"),
    ("daily", "schedule.frequency", DELETE, "schedule.frequency"),
    ("daily", "schedule.timeZone", 1, "schedule.timeZone"),
]


@pytest.mark.parametrize(("base", "path", "value", "field"), BAD)
def test_a_bad_document_names_its_field(base: str, path: str, value: object, field: str) -> None:
    error = failure(changed(BASES[base], path, value))
    assert error.code is Code.POLICY_INVALID
    assert error.params["name"] == "nightly"
    assert error.params["field"] == field
    assert error.params["reason"]
    assert field in str(error)


# (base, path, value): the edges of each range are allowed
GOOD = [
    ("daily", "retention.daily.days", 7),
    ("daily", "retention.daily.days", 9999),
    ("daily", "retention.weekly.weeks", 1),
    ("daily", "retention.weekly.weeks", 5163),
    ("daily", "retention.monthly.months", 1188),
    ("daily", "retention.yearly.years", 99),
    ("daily", "retention.monthly.daysOfMonth", [28, "Last"]),
    ("daily", "instantRpRetentionDays", 1),
    ("daily", "instantRpRetentionDays", 5),
    ("daily", "schedule.time", "23:30"),
    ("daily", "schedule.timeZone", "Australia/Lord_Howe"),
    ("daily", "policyType", "Enhanced"),
    ("weekly", "schedule.weekdays", list(WEEKDAY_NAMES)),
    ("hourly", "instantRpRetentionDays", 30),
    ("hourly", "schedule.hourly.windowStart", "19:30"),
    ("hourly", "schedule.hourly.windowHours", 4),
    ("hourly", "schedule.hourly.intervalHours", 12),
    ("hourly", "schedule.hourly.windowHours", 12),
]


@pytest.mark.parametrize(("base", "path", "value"), GOOD)
def test_the_edges_of_each_range_are_allowed(base: str, path: str, value: object) -> None:
    parse_policy(changed(BASES[base], path, value), "nightly")


def test_a_weekly_schedule_may_keep_every_scheduled_day_weekly() -> None:
    doc = changed(WEEKLY, "retention.weekly.weekdays", ["Wednesday", "Sunday"])
    assert parse_policy(doc, "p").retention.weekly == WeeklyRetention(12, (2, 6))


def test_the_reason_says_what_is_wrong_and_what_was_given() -> None:
    error = failure(changed(DAILY, "retention.daily.days", 3))
    assert error.params["reason"] == "must be 7 to 9999 days, got 3"
    error = failure(changed(WEEKLY, "retention.weekly.weekdays", ["Monday"]))
    assert error.params["reason"] == "Monday is not a scheduled backup day"


def test_a_document_that_is_not_an_object_fails() -> None:
    assert failure(["policy"]).params["field"] == "$"


def _policy(schedule: Schedule, retention: Retention, instant: int = 2) -> Policy:
    return Policy(PolicyType.STANDARD, schedule, retention, instant)


MODEL_BAD = [
    (_policy(Schedule(Frequency.WEEKLY, time(2), (7,)), Retention()), "schedule.weekdays"),
    (_policy(Schedule(Frequency.DAILY, time(2, 0, 30)), Retention()), "schedule.time"),
    (
        _policy(
            Schedule(Frequency.DAILY, time(2)),
            Retention(DailyRetention(30), WeeklyRetention(2, (-1,))),
        ),
        "retention.weekly.weekdays",
    ),
    (
        _policy(
            Schedule(Frequency.DAILY, time(2)),
            Retention(DailyRetention(30), monthly=MonthlyRetention(2, (-1,))),
        ),
        "retention.monthly.daysOfMonth",
    ),
    (
        _policy(
            Schedule(Frequency.DAILY, time(2)),
            Retention(DailyRetention(30), yearly=YearlyRetention(2, (13,), (1,))),
        ),
        "retention.yearly.monthsOfYear",
    ),
]


@pytest.mark.parametrize(("policy", "field"), MODEL_BAD)
def test_policies_built_in_code_are_checked_too(policy: Policy, field: str) -> None:
    with pytest.raises(RsvaultError) as caught:
        validate_policy(policy, "built")
    assert caught.value.params["field"] == field


def test_all_problems_can_be_listed_at_once() -> None:
    policy = _policy(Schedule(Frequency.DAILY, time(2, 15), time_zone="Nowhere"), Retention(), 9)
    fields = [field for field, _ in policy_problems(policy)]
    assert fields == [
        "schedule.timeZone",
        "schedule.time",
        "instantRpRetentionDays",
        "retention.daily",
    ]
