"""Progress events from the pipelines; shells render them (a bar on a terminal, JSON lines...)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    phase: str
    files_done: int
    bytes_done: int
    files_total: int | None = None
    bytes_total: int | None = None
    current: str | None = None


ProgressSink = Callable[[Progress], None]

# The phase of the event sent just before a backup makes its recovery point visible.
COMMIT_PHASE = "commit"


def ignore_progress(_event: Progress) -> None:
    return None


class ProgressCounter:
    """Thread-safe counters that report to a sink, at most every `every_bytes` bytes."""

    def __init__(self, sink: ProgressSink, phase: str, every_bytes: int = 4 << 20) -> None:
        self._sink = sink
        self.phase = phase
        self.files = 0
        self.bytes = 0
        self.files_total: int | None = None
        self.bytes_total: int | None = None
        self._last = 0
        self._last_files = 0
        self._every = every_bytes
        self._lock = threading.Lock()

    def add(self, *, files: int = 0, nbytes: int = 0, current: str | None = None) -> None:
        with self._lock:
            self.files += files
            self.bytes += nbytes
            due = self.bytes - self._last >= self._every or self.files - self._last_files >= 500
            if due:
                self._last, self._last_files = self.bytes, self.files
        if due:
            self.emit(current)

    def emit(self, current: str | None = None) -> None:
        self._sink(
            Progress(
                self.phase, self.files, self.bytes, self.files_total, self.bytes_total, current
            )
        )
