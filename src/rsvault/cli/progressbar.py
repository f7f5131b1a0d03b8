"""A progress bar on stderr (bytes, files, rate, ETA), only when stderr is a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rsvault.cli.render import stderr
from rsvault.services.progress import Progress as ProgressEvent
from rsvault.services.progress import ProgressSink, ignore_progress

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


@contextmanager
def progress_bar(title: str) -> Iterator[ProgressSink]:
    if not sys.stderr.isatty():  # logs and pipes get no bar, and need no rich
        yield ignore_progress
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TextColumn("{task.fields[files]} files"),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=stderr(),
        transient=True,
    )
    with bar:
        task = bar.add_task(title, total=None, files=0)
        yield lambda event: _update(bar, task, event)


def _update(bar: Progress, task: TaskID, event: ProgressEvent) -> None:
    bar.update(task, completed=event.bytes_done, total=event.bytes_total, files=event.files_done)
