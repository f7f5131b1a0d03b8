"""Rendering results and errors: rich tables for people, JSON for programs."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rsvault.cli.session import CURRENT, OutputFormat, language
from rsvault.core.units import format_bytes
from rsvault.errors import RsvaultError
from rsvault.services.views import View

if TYPE_CHECKING:
    from rich.console import Console


# Rich loads only for output meant for people: a command printing JSON, or a backup with
# nothing to draw, starts faster without its fifty modules.
@functools.cache
def stdout() -> Console:
    return _console(to_stderr=False)


@functools.cache
def stderr() -> Console:
    return _console(to_stderr=True)


def _console(*, to_stderr: bool) -> Console:
    from rich.console import Console

    stream = sys.stderr if to_stderr else sys.stdout
    # Piped output is for logs and scripts: wide enough that names are never cut short.
    return Console(stderr=to_stderr, soft_wrap=True, width=None if stream.isatty() else 240)


_BYTES = {
    "size",
    "storedNew",
    "bytesRead",
    "bytesDeleted",
    "bytesTotal",
    "bytesStored",
    "bytesTransferred",
    "recoveryPointsSize",
    "recoveryPointsStored",
}


def _cell(key: str, value: Any) -> str:
    if value is None:
        return ""
    if key in _BYTES and isinstance(value, int):
        return format_bytes(value)
    if isinstance(value, list | tuple):
        return ", ".join(
            _disk(v) if isinstance(v, dict) and "target" in v else str(v) for v in value
        )
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def _disk(disk: dict[str, Any]) -> str:
    """A VM disk in a table cell: "vda qcow2 20.0 GiB"."""
    size = disk.get("size")
    parts = [str(disk["target"]), str(disk.get("format") or "")]
    parts.append(format_bytes(size) if isinstance(size, int) else "")
    return " ".join(p for p in parts if p)


def show_list(views: Sequence[View], columns: Sequence[str]) -> None:
    if CURRENT.output is OutputFormat.JSON:
        print(json.dumps([v.as_dict() for v in views], indent=2, default=str))
        return
    from rich.table import Table

    table = Table(*columns, box=None, header_style="bold")
    for view in views:
        row = view.as_dict()
        table.add_row(*(_cell(c, row.get(c)) for c in columns))
    stdout().print(table)


def show_one(view: View, skip: Sequence[str] = ()) -> None:
    if CURRENT.output is OutputFormat.JSON:
        print(json.dumps(view.as_dict(), indent=2, default=str))
        return
    from rich.table import Table

    table = Table(box=None, show_header=False)
    for key, value in view.as_dict().items():
        if key not in skip:
            table.add_row(f"[bold]{key}[/bold]", _cell(key, value))
    stdout().print(table)


def show_error(error: RsvaultError) -> None:
    report = error.report(language())
    if CURRENT.output is OutputFormat.JSON:
        print(
            json.dumps({"error": report.as_dict()}, ensure_ascii=False, indent=2), file=sys.stderr
        )
        return
    stderr().print(f"[bold red]{report.code}[/bold red]: {report.message}", highlight=False)
    if report.detail:
        stderr().print(f"  ({report.detail})", highlight=False)
    _print_list("Possible causes" if language() == "en" else "可能原因", report.causes)
    _print_list("What to do" if language() == "en" else "建议操作", report.actions)


def _print_list(title: str, lines: Sequence[str]) -> None:
    if lines:
        stderr().print(f"[bold]{title}:[/bold]")
        for number, line in enumerate(lines, 1):
            stderr().print(f"  {number}. {line}", highlight=False)
