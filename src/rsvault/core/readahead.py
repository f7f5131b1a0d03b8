"""Read a command's program files ahead, all at once, when the page cache is cold.

Python imports one module at a time: it opens and reads each compiled file in turn, and maps
each extension library and faults it in page by page. With a cold page cache (a nightly
backup on a host whose memory went to its VMs) every one of some 500 files is a disk round
trip, and a short command spends a third of its time waiting for them. A command needs the
same files every time, so each run records the ones it used, and the next run asks the kernel
for all of them at once (POSIX_FADV_WILLNEED) from a thread while the interpreter imports. With
a warm cache the hints cost a few milliseconds.
"""

from __future__ import annotations

import os
import stat
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

_FOLDER = "startup"  # under RSVAULT_HOME
_NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def list_path(home: Path, arguments: Sequence[str]) -> Path | None:
    """Where the file list of the command that `arguments` start with is kept: one list per
    command (`protection.backup-now`), never per argument; None when no command leads."""
    words: list[str] = []
    for word in arguments[:2]:
        if not word or word.startswith("-") or not set(word) <= _NAME_CHARACTERS:
            break
        words.append(word)
    return home / _FOLDER / f"{'.'.join(words)}.list" if words else None


def start(listing: Path) -> threading.Thread:
    """Begin reading ahead the files in `listing` (a missing list is no list)."""
    thread = threading.Thread(target=_read_ahead, args=(listing,), name="readahead", daemon=True)
    thread.start()
    return thread


def record(listing: Path) -> None:
    """Keep the files this process has loaded as the list for next time; rewritten only when
    they changed, and never an error (the list is a hint)."""
    files = sorted(loaded_files())
    try:
        if listing.read_text().splitlines() == files:
            return
    except (OSError, UnicodeDecodeError):
        pass
    try:
        listing.parent.mkdir(mode=0o700, exist_ok=True)
        temp = listing.with_name(f".{listing.name}.{os.getpid()}")
        temp.write_text("\n".join(files) + "\n")
        temp.replace(listing)
    except OSError:
        pass


def loaded_files() -> set[str]:
    """The compiled modules, extension modules and shared libraries this process uses."""
    files: set[str] = set()
    for module in list(sys.modules.values()):
        for attribute in ("__cached__", "__file__"):
            name = getattr(module, attribute, None)
            if isinstance(name, str) and not name.endswith(".py"):
                files.add(name)
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)
                if len(fields) == 6 and fields[5].startswith("/"):
                    files.add(fields[5].rstrip("\n"))
    except OSError:
        pass
    return {name for name in files if os.path.isabs(name) and os.path.isfile(name)}


def _read_ahead(listing: Path) -> None:
    try:
        names = listing.read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return
    for name in names:
        _hint(name)


def _hint(name: str) -> None:
    # O_NONBLOCK: a list someone edited must not hang the command on a FIFO; only regular
    # files are hinted.
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
    except OSError:
        pass
    finally:
        os.close(fd)
