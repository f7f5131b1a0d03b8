"""Per-process limits rsvault raises at start-up, as far as the hard limit allows."""

from __future__ import annotations

import contextlib
import resource

_ENOUGH_FILES = 1 << 20


def raise_open_files_limit() -> None:
    """Lift the soft limit on open descriptors towards the hard one.

    The soft limit is often 1,024, kept low for programs that still use select(); rsvault
    does not, and each restore worker keeps a few batches of files (and their directories)
    open at once."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _ENOUGH_FILES if hard == resource.RLIM_INFINITY else min(hard, _ENOUGH_FILES)
    if soft < target:
        with contextlib.suppress(ValueError, OSError):  # refused: fewer files stay open
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
