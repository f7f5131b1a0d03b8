"""Is the process that runs a job still there? Used to fail jobs whose process died."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import cache

import psutil

# Process start times come from /proc with clock-tick resolution.
_START_TOLERANCE = 1.0


@dataclass(frozen=True)
class ProcessIdentity:
    host: str
    pid: int
    started: float


@cache
def current_process() -> ProcessIdentity:
    pid = os.getpid()
    return ProcessIdentity(socket.gethostname(), pid, psutil.Process(pid).create_time())


def is_lost(host: str | None, pid: int | None, started: float | None) -> bool:
    """True only when certain: the job ran on this host and its process is gone or was
    replaced by another with the same pid. Jobs of other hosts are never judged here."""
    if pid is None or (host is not None and host != socket.gethostname()):
        return False
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return True
        created = process.create_time()
    except psutil.NoSuchProcess:
        return True
    return started is not None and abs(created - started) > _START_TOLERANCE
