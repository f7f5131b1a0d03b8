"""Blob-name validation shared by the backends: no crap in, no crap out."""

from __future__ import annotations

import re

_NAME = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")


def check_name(name: str) -> str:
    """Reject names that could escape a backend's root or mean different things on each."""
    if not _NAME.match(name) or any(part in (".", "..") for part in name.split("/")):
        raise ValueError(f"invalid blob name: {name!r}")
    return name
