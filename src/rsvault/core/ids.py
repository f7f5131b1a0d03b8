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
    """A sortable, readable recovery point name: the UTC time plus a random suffix."""
    return at.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(4)
