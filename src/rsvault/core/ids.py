"""Identifiers for vault objects, jobs and recovery points."""

from __future__ import annotations

import re
import secrets
from datetime import datetime

_HEX_ID = re.compile(r"^[0-9a-f]{64}$")


def random_hex_id() -> str:
    """A 256-bit random id as 64 hex digits (packs, index files, key slots, locks)."""
    return secrets.token_hex(32)


def is_hex_id(text: str) -> bool:
    return bool(_HEX_ID.match(text))


def recovery_point_name(at: datetime) -> str:
    """A readable name that sorts by time: UTC to the microsecond, plus a random suffix.

    Microseconds matter: two backups in one second must still sort in the order they ran,
    since the newest recovery point of an item is found by name.
    """
    return at.strftime("%Y%m%dT%H%M%S.%fZ") + "-" + secrets.token_hex(4)
