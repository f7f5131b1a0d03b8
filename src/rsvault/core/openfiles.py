"""Descriptors kept open by name, so a file read many times in pieces is opened once.

Beyond a limit the least recently used are closed. Not thread-safe: a caller that shares one
between threads holds its own lock around every call.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable


class OpenFiles:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._fds: OrderedDict[str, int] = OrderedDict()

    def get(self, name: str, open_file: Callable[[], int]) -> int:
        """The open descriptor for `name`, from `open_file` if there is none; it stays this
        object's to close."""
        fd = self._fds.pop(name, None)
        if fd is None:
            fd = open_file()
        self._fds[name] = fd
        while len(self._fds) > self._limit:
            os.close(self._fds.popitem(last=False)[1])
        return fd

    def forget(self, name: str) -> None:
        """Close the descriptor for `name`, if one is open (the file was replaced)."""
        fd = self._fds.pop(name, None)
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        while self._fds:
            os.close(self._fds.popitem()[1])
