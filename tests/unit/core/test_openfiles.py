"""Descriptors kept open by name: reused, the least recently used closed beyond the limit."""

from __future__ import annotations

import os
from pathlib import Path

from rsvault.core.openfiles import OpenFiles


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_a_name_is_opened_once_and_the_oldest_closed(tmp_path: Path) -> None:
    opened: list[str] = []

    def open_named(name: str) -> int:
        opened.append(name)
        (tmp_path / name).touch()
        return os.open(tmp_path / name, os.O_RDONLY)

    files = OpenFiles(2)
    a = files.get("a", lambda: open_named("a"))
    b = files.get("b", lambda: open_named("b"))
    assert files.get("a", lambda: open_named("a")) == a  # reused, and now the most recent
    c = files.get("c", lambda: open_named("c"))  # "b" is the least recently used
    assert opened == ["a", "b", "c"]
    assert (is_open(a), is_open(b), is_open(c)) == (True, False, True)
    files.forget("a")
    assert not is_open(a)
    files.forget("never opened")
    files.close()
    assert not is_open(c)
