"""The policy a VM gets when the user names none: Azure's default, at a quiet hour."""

from __future__ import annotations

from datetime import time

from rsvault.policy.model import DailyRetention, Frequency, Policy, PolicyType, Retention, Schedule

DEFAULT_RUN_TIME = time(2, 0)
"""02:00 UTC: night in Europe and Africa, evening in the Americas. Users elsewhere set their own."""


def default_vm_policy() -> Policy:
    """Daily at 02:00 UTC, 30 days of daily recovery points, 2 days of instant snapshots."""
    return Policy(
        policy_type=PolicyType.STANDARD,
        schedule=Schedule(Frequency.DAILY, run_time=DEFAULT_RUN_TIME, time_zone="UTC"),
        retention=Retention(daily=DailyRetention(30)),
        instant_rp_retention_days=2,
    )
