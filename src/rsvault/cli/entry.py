"""The `rsvault` program: start reading the command's files ahead, then run the CLI.

This module is the console script, kept apart from `cli.app` so that the read-ahead starts
before the first heavy import, and so that importing the CLI (tests do) starts nothing.
"""

from __future__ import annotations

import atexit
import sys

from rsvault.core import readahead
from rsvault.core.home import default_home


def main() -> None:
    listing = readahead.list_path(default_home(), sys.argv[1:])
    if listing is not None:
        readahead.start(listing)
        atexit.register(readahead.record, listing)
    from rsvault.cli.app import main as run  # the heavy imports, now read ahead

    run()
