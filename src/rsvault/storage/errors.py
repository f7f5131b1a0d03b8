"""Store failures, translated from each backend's own exceptions at its boundary.

StoreError                  any failure of the store; `transient` says whether a retry may help
  StoreNotFoundError        the named blob does not exist
  StoreFullError            no space left (ENOSPC, quota)
  StorePermissionError      the store refuses access (EACCES, EROFS)
"""

from __future__ import annotations


class StoreError(Exception):
    transient = False

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


class StoreNotFoundError(StoreError):
    pass


class StoreFullError(StoreError):
    pass


class StorePermissionError(StoreError):
    pass


class StoreTransientError(StoreError):
    transient = True
