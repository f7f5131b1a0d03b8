"""Start-up read-ahead: one file list per command, recorded by one run, hinted by the next."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from rsvault.core import readahead


@pytest.mark.parametrize(
    ("arguments", "name"),
    [
        (["protection", "backup-now", "--vault-name", "v"], "protection.backup-now.list"),
        (["vault", "--help"], "vault.list"),
        (["recoverypoint", "list"], "recoverypoint.list.list"),
    ],
)
def test_a_list_is_kept_per_command(tmp_path: Path, arguments: list[str], name: str) -> None:
    assert readahead.list_path(tmp_path, arguments) == tmp_path / "startup" / name


@pytest.mark.parametrize("arguments", [[], ["--output", "json", "vault"], ["../x"], ["A"], [""]])
def test_no_list_without_a_command_first(tmp_path: Path, arguments: list[str]) -> None:
    assert readahead.list_path(tmp_path, arguments) is None


def test_a_run_records_the_files_it_loaded_and_rewrites_only_changes(tmp_path: Path) -> None:
    listing = tmp_path / "startup" / "x.list"
    readahead.record(listing)
    files = listing.read_text().splitlines()
    compiled = threading.__spec__.cached if threading.__spec__ else None
    assert compiled in files  # a compiled module (the standard library's are always there)
    assert any(".so" in Path(f).name for f in files)  # extension modules and libraries
    assert all(os.path.isabs(f) and os.path.isfile(f) for f in files)
    assert not any(f.endswith(".py") for f in files)  # sources are not what imports read
    stamp = listing.stat().st_mtime_ns
    readahead.record(listing)
    assert listing.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in listing.parent.iterdir()) == ["x.list"]


def test_recording_where_it_cannot_write_is_quiet(tmp_path: Path) -> None:
    readahead.record(tmp_path / "missing-home" / "startup" / "x.list")
    assert not (tmp_path / "missing-home").exists()


def test_hints_skip_what_is_missing_or_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening it for reading without O_NONBLOCK would wait for a writer
    listing = tmp_path / "edited.list"
    listing.write_text(f"{fifo}\n{tmp_path / 'gone'}\n\n{sys.executable}\n/dev/zero\n")
    thread = readahead.start(listing)
    thread.join(timeout=10)
    assert not thread.is_alive()
    readahead.start(tmp_path / "no-list-yet").join(timeout=10)
