"""Where this machine's rsvault state lives: RSVAULT_HOME, by default ~/.rsvault."""

from __future__ import annotations

import os
from pathlib import Path


def default_home() -> Path:
    return Path(os.environ.get("RSVAULT_HOME") or Path.home() / ".rsvault")
