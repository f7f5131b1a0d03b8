"""A restore's write that the target refused, as the code a user can act on."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rsvault.errors import Code, RsvaultError

_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


@contextmanager
def target_faults(target: Path) -> Iterator[None]:
    """A full target is UserErrorNotEnoughSpace; any other refusal, RestoreTargetNotWritable."""
    try:
        yield
    except OSError as exc:
        raise target_fault(target, exc) from exc


def target_fault(target: Path, exc: OSError) -> RsvaultError:
    reason = exc.strerror or str(exc)
    if exc.errno in _FULL:
        return RsvaultError(Code.NOT_ENOUGH_SPACE, location=str(target), detail=reason)
    return RsvaultError(Code.RESTORE_TARGET_NOT_WRITABLE, target=str(target), reason=reason)
