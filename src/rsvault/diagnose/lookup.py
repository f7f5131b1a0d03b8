"""A code as a user may type or paste it -> its catalog entry.

Accepted: the code in any letter case; another spelling Azure used (aliases); Azure's
numeric id ("320001", "0x1FC07"); a status number of Azure's Linux backup extension ("121").
"""

from __future__ import annotations

import difflib
from functools import cache

from rsvault.errors import CatalogEntry, catalog

# How alike a mistyped code must be to a real one to be offered as "did you mean".
_CLOSE_ENOUGH = 0.6


@cache
def _keys() -> dict[str, str]:
    """Every accepted spelling, folded to lower case -> the entry's code."""
    keys: dict[str, str] = {}
    for entry in catalog().values():
        spellings = [entry.code, *entry.aliases, *map(str, entry.extension_status)]
        if entry.azure_id:
            spellings.append(entry.azure_id)
        for spelling in spellings:
            keys.setdefault(spelling.strip().lower(), entry.code)
    return keys


def find(code: str) -> CatalogEntry | None:
    found = _keys().get(code.strip().lower())
    return catalog()[found] if found else None


def closest(code: str, limit: int = 3) -> list[str]:
    """Codes spelled most like `code`, for a "did you mean" on a typo."""
    words = difflib.get_close_matches(code.strip().lower(), _keys(), limit * 3, _CLOSE_ENOUGH)
    codes = dict.fromkeys(_keys()[word] for word in words)
    return list(codes)[:limit]


def is_known_spelling(word: str) -> bool:
    return word.strip().lower() in _keys()
