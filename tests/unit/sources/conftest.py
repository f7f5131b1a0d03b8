"""Fixtures for the file-source tests: a real temporary directory, resolved."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """tmp_path without symlinks in it, so walked paths compare equal to the ones we build."""
    return Path(os.path.realpath(tmp_path))


@pytest.fixture
def user_xattrs(base: Path) -> None:
    """Skips the test where the temporary file system refuses user.* extended attributes."""
    probe = base / ".xattr-probe"
    probe.write_bytes(b"")
    try:
        os.setxattr(probe, "user.probe", b"1")
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            pytest.skip(f"{base} does not support user.* xattrs")
        raise
    finally:
        probe.unlink()
