"""User and group names for numeric ids, looked up once per id.

Names are recorded beside the ids so that a restore onto another machine can report (or
later map) owners by name; the lookups go through NSS, which may be LDAP, hence the cache.
"""

from __future__ import annotations

import grp
import pwd


class OwnerNames:
    """Caches both hits and misses: an unknown uid in a big tree would otherwise cost a lookup
    for every file it owns."""

    def __init__(self) -> None:
        self._users: dict[int, str | None] = {}
        self._groups: dict[int, str | None] = {}

    def user(self, uid: int) -> str | None:
        if uid not in self._users:
            try:
                self._users[uid] = pwd.getpwuid(uid).pw_name
            except KeyError:
                self._users[uid] = None
        return self._users[uid]

    def group(self, gid: int) -> str | None:
        if gid not in self._groups:
            try:
                self._groups[gid] = grp.getgrgid(gid).gr_name
            except KeyError:
                self._groups[gid] = None
        return self._groups[gid]
