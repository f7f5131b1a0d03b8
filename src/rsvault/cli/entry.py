"""The `rsvault` program: start reading the command's files ahead, stretch the passphrase
the command will need, then run the CLI.

This module is the console script, kept apart from `cli.app` so that the read-ahead starts
before the first heavy import, so that the passphrase is stretched while the process is still
small (see `services.unlockahead`), and so that importing the CLI (tests do) starts nothing.
"""

from __future__ import annotations

import atexit
import os
import sys

from rsvault.core import readahead
from rsvault.core.home import default_home
from rsvault.services import unlockahead


def main() -> None:
    arguments = sys.argv[1:]
    listing = readahead.list_path(default_home(), arguments)
    if listing is not None:
        readahead.start(listing)
        atexit.register(readahead.record, listing)
        memo = listing.with_name(unlockahead.MEMO_NAME)
        pending = unlockahead.begin(memo, listing.stem, arguments, os.environ)
        if pending is not None:
            atexit.register(unlockahead.record, pending)
    from rsvault.cli.app import main as run  # the heavy imports, now read ahead

    run()
