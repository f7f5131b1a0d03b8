"""Exclude patterns for a backup: fnmatch globs tested against a path and against its name.

Like restic, one pattern list serves both kinds of rule people write: '*.tmp' or
'node_modules' (a name anywhere in the tree) and '/home/*/cache' (one place). Note that with
fnmatch a '*' also matches '/', so '/home/*/cache' matches '/home/ana/x/cache' too.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Sequence


class ExcludeMatcher:
    """Compiled once per walk: a tree can hold millions of names and each is tested."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self._regexes = [_compile(pattern) for pattern in patterns if pattern]

    def __bool__(self) -> bool:
        return bool(self._regexes)

    def excludes(self, absolute: bytes) -> bool:
        """True if `absolute` (an absolute bytes path) or its last name matches a pattern."""
        name = absolute.rsplit(b"/", 1)[-1]
        return any(rx.match(absolute) or rx.match(name) for rx in self._regexes)


def _compile(pattern: str) -> re.Pattern[bytes]:
    # Paths are bytes (names need not be UTF-8), so the pattern is matched as bytes too; this
    # is what fnmatch itself does for bytes: translate through latin-1, which maps 1:1.
    raw = os.fsencode(pattern)
    if len(raw) > 1:
        raw = raw.rstrip(b"/")  # 'cache/' means the directory named cache
    return re.compile(fnmatch.translate(raw.decode("latin-1")).encode("latin-1"))
