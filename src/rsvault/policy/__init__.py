"""Backup policies as pure functions: what a policy may say, when it runs, what it keeps.

model        the values: Policy, Schedule, Retention and their parts
document     the JSON document, both ways: parse_policy, policy_document
validation   Azure's rules; every failure is POLICY_INVALID naming the field
defaults     default_vm_policy
schedule     next_runs: the scheduled instants after a moment
retention    expiry_of and decide: which recovery points to keep, and why

Nothing here reads the clock or does I/O (beyond zoneinfo's tz database): every function is
given the instant it reasons about.
"""

from rsvault.policy.defaults import default_vm_policy
from rsvault.policy.document import parse_policy, policy_document
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
from rsvault.policy.retention import Decision, Expiry, PointFacts, Reason, decide, expiry_of
from rsvault.policy.schedule import next_runs
from rsvault.policy.validation import policy_problems, validate_policy

__all__ = [
    "LAST_DAY",
    "MONTH_NAMES",
    "WEEKDAY_NAMES",
    "DailyRetention",
    "Decision",
    "Expiry",
    "Frequency",
    "HourlySchedule",
    "MonthlyRetention",
    "PointFacts",
    "Policy",
    "PolicyType",
    "Reason",
    "Retention",
    "Schedule",
    "WeekOfMonth",
    "WeeklyRetention",
    "YearlyRetention",
    "decide",
    "default_vm_policy",
    "expiry_of",
    "next_runs",
    "parse_policy",
    "policy_document",
    "policy_problems",
    "validate_policy",
]
