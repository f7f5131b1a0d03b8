"""Sample policy documents, one per frequency, each valid and in canonical form."""

from __future__ import annotations

import copy
from typing import Any

DELETE = object()

DAILY: dict[str, Any] = {
    "policyType": "Standard",
    "schedule": {"frequency": "Daily", "time": "02:00", "timeZone": "Europe/Berlin"},
    "instantRpRetentionDays": 2,
    "retention": {
        "daily": {"days": 30},
        "weekly": {"weeks": 12, "weekdays": ["Sunday"]},
        "monthly": {"months": 60, "daysOfMonth": [1, "Last"]},
        "yearly": {
            "years": 10,
            "monthsOfYear": ["January"],
            "weeksOfMonth": ["First"],
            "weekdays": ["Sunday"],
        },
    },
}
WEEKLY: dict[str, Any] = {
    "policyType": "Standard",
    "schedule": {
        "frequency": "Weekly",
        "time": "23:30",
        "weekdays": ["Sunday", "Wednesday"],
        "timeZone": "America/New_York",
    },
    "instantRpRetentionDays": 5,
    "retention": {
        "weekly": {"weeks": 12, "weekdays": ["Sunday"]},
        "monthly": {"months": 60, "weeksOfMonth": ["First", "Last"], "weekdays": ["Wednesday"]},
        "yearly": {
            "years": 10,
            "monthsOfYear": ["January", "July"],
            "weeksOfMonth": ["Last"],
            "weekdays": ["Sunday"],
        },
    },
}
HOURLY: dict[str, Any] = {
    "policyType": "Enhanced",
    "schedule": {
        "frequency": "Hourly",
        "hourly": {"intervalHours": 4, "windowStart": "08:00", "windowHours": 24},
        "timeZone": "Asia/Kolkata",
    },
    "instantRpRetentionDays": 7,
    "retention": {"daily": {"days": 180}},
}
BASES = {"daily": DAILY, "weekly": WEEKLY, "hourly": HOURLY}


def changed(base: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    """A deep copy of `base` with the dotted `path` set to `value` (or removed: DELETE)."""
    doc = copy.deepcopy(base)
    *parents, last = path.split(".")
    node = doc
    for key in parents:
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return doc
