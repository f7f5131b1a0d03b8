"""Naming an unnamed file through its descriptor: by linkat where the kernel allows it,
through /proc where it does not."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from rsvault.core import linkfd


@pytest.mark.parametrize("by_descriptor", [True, False], ids=["linkat", "proc"])
def test_an_unnamed_file_gets_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, by_descriptor: bool
) -> None:
    monkeypatch.setattr(linkfd._Permission, "by_descriptor", by_descriptor)
    dir_fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    fd = os.open(tmp_path, os.O_TMPFILE | os.O_WRONLY, 0o600)
    try:
        os.write(fd, b"contents")
        linkfd.link_descriptor(fd, dir_fd, b"named")
        with pytest.raises(FileExistsError):
            linkfd.link_descriptor(fd, dir_fd, b"named")
    finally:
        os.close(fd)
        os.close(dir_fd)
    assert (tmp_path / "named").read_bytes() == b"contents"
    assert [p.name for p in tmp_path.iterdir()] == ["named"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")
def test_an_ordinary_user_gets_the_name_too() -> None:
    """Without CAP_DAC_READ_SEARCH, older kernels refuse linkat by descriptor: /proc then."""
    # pytest's own folders are root's alone
    with tempfile.TemporaryDirectory(prefix="rsvault-linkfd-") as name:
        folder = Path(name)
        folder.chmod(0o777)
        script = f"""
import os
from rsvault.core import linkfd
os.setgid(65534)
os.setuid(65534)
dir_fd = os.open({name!r}, os.O_RDONLY | os.O_DIRECTORY)
fd = os.open({name!r}, os.O_TMPFILE | os.O_WRONLY, 0o600)
os.write(fd, b"as nobody")
linkfd.link_descriptor(fd, dir_fd, b"named")
"""
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert (folder / "named").read_bytes() == b"as nobody"
        assert (folder / "named").stat().st_uid == 65534
