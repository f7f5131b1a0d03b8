"""The JSON document: reading, writing, the round trip, defaults for what may be left out."""

from __future__ import annotations

import copy
import json
from datetime import time
from typing import Any

import pytest
from tests.unit.policy.samples import BASES, DAILY, HOURLY, WEEKLY

from rsvault.policy import (
    LAST_DAY,
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
    default_vm_policy,
    parse_policy,
    policy_document,
    validate_policy,
)


@pytest.mark.parametrize("base", sorted(BASES))
def test_a_canonical_document_reads_and_writes_back_unchanged(base: str) -> None:
    document = BASES[base]
    policy = parse_policy(document, "p")
    assert policy_document(policy) == document
    assert parse_policy(policy_document(policy), "p") == policy
    assert json.loads(json.dumps(policy_document(policy))) == document


def test_the_daily_document_means_what_it_says() -> None:
    assert parse_policy(DAILY, "p") == Policy(
        PolicyType.STANDARD,
        Schedule(Frequency.DAILY, time(2, 0), (), None, "Europe/Berlin"),
        Retention(
            DailyRetention(30),
            WeeklyRetention(12, (6,)),
            MonthlyRetention(60, (1, LAST_DAY)),
            YearlyRetention(10, (1,), (), (WeekOfMonth.FIRST,), (6,)),
        ),
        2,
    )


def test_the_weekly_and_hourly_documents_mean_what_they_say() -> None:
    weekly = parse_policy(WEEKLY, "p")
    assert weekly.schedule == Schedule(
        Frequency.WEEKLY, time(23, 30), (6, 2), None, "America/New_York"
    )
    assert weekly.retention.monthly == MonthlyRetention(
        60, (), (WeekOfMonth.FIRST, WeekOfMonth.LAST), (2,)
    )
    assert weekly.retention.yearly is not None
    assert weekly.retention.yearly.months_of_year == (1, 7)
    hourly = parse_policy(HOURLY, "p")
    assert hourly.schedule.hourly == HourlySchedule(4, time(8, 0), 24)
    assert hourly.schedule.run_time is None


def _without(document: dict[str, Any], *path: str) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    node = doc
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return doc


@pytest.mark.parametrize(("base", "days"), [(DAILY, 2), (WEEKLY, 5), (HOURLY, 7)])
def test_instant_snapshot_days_default_like_azure(base: dict[str, Any], days: int) -> None:
    policy = parse_policy(_without(base, "instantRpRetentionDays"), "p")
    assert policy.instant_rp_retention_days == days


def test_policy_type_and_time_zone_may_be_left_out() -> None:
    doc = _without(_without(DAILY, "policyType"), "schedule", "timeZone")
    policy = parse_policy(doc, "p")
    assert policy.policy_type is PolicyType.STANDARD
    assert policy.schedule.time_zone == "UTC"


def test_the_document_leaves_out_what_the_policy_does_not_use() -> None:
    document = policy_document(parse_policy(HOURLY, "p"))
    assert set(document["schedule"]) == {"frequency", "hourly", "timeZone"}
    assert set(document["retention"]) == {"daily"}


def test_the_default_vm_policy_is_azures_default() -> None:
    policy = default_vm_policy()
    assert validate_policy(policy, "DefaultPolicy") is policy
    assert policy_document(policy) == {
        "policyType": "Standard",
        "schedule": {"frequency": "Daily", "time": "02:00", "timeZone": "UTC"},
        "instantRpRetentionDays": 2,
        "retention": {"daily": {"days": 30}},
    }


def test_reading_does_not_change_the_document() -> None:
    document = copy.deepcopy(WEEKLY)
    parse_policy(document, "p")
    assert document == WEEKLY
