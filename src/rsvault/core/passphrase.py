"""Where a command's passphrase comes from: a file named on its command line, else the
RSVAULT_PASSPHRASE variable. The CLI reads it to open vaults, and `services.unlockahead` reads
it the same way, before the libraries load, to stretch it ahead."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

PASSPHRASE_VARIABLE = "RSVAULT_PASSPHRASE"


def passphrase_in(environ: Mapping[str, str]) -> str | None:
    return environ.get(PASSPHRASE_VARIABLE)


def read_passphrase_file(path: Path) -> str:
    """The passphrase a file holds: its text, without the line ending an editor adds. Raises
    OSError (and UnicodeDecodeError) as reading the file does."""
    return path.read_text("utf-8").rstrip("\r\n")
