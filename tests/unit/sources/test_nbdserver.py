"""NBD servers are known by PID and socket: a stranger at the same PID is never signalled."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rsvault.sources.libvirt.nbdserver import is_serving, remove_socket_dir, stop_server

SOCKET = "/run/rsvault-nbd-test/vda.sock"


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A process whose command line names SOCKET, as qemu-nbd's does."""
    argv = [sys.executable, "-c", "import time; time.sleep(60)", f"--socket={SOCKET}"]
    proc = subprocess.Popen(argv)
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_serving_means_alive_with_this_socket(sleeper: subprocess.Popen[bytes]) -> None:
    assert is_serving(sleeper.pid, SOCKET)
    assert not is_serving(sleeper.pid, "/run/rsvault-nbd-test/vdb.sock")


def test_stop_ends_the_server_and_a_zombie_is_not_serving(
    sleeper: subprocess.Popen[bytes],
) -> None:
    stop_server(sleeper.pid, SOCKET)
    assert not is_serving(sleeper.pid, SOCKET)  # our unreaped child: a zombie now
    assert sleeper.wait(timeout=5) != 0


def test_stop_leaves_another_process_alone(sleeper: subprocess.Popen[bytes]) -> None:
    stop_server(sleeper.pid, "/run/rsvault-nbd-test/other.sock")
    assert sleeper.poll() is None


def test_remove_socket_dir_removes_only_what_servers_make(tmp_path: Path) -> None:
    for name in ("vda.sock", "server.log"):
        (tmp_path / name).write_bytes(b"")
    remove_socket_dir(tmp_path, ["vda.sock", "vdb.sock"])
    assert not tmp_path.exists()

    tmp_path.mkdir()
    (tmp_path / "keep").write_bytes(b"")
    remove_socket_dir(tmp_path, ["vda.sock"])
    assert [p.name for p in tmp_path.iterdir()] == ["keep"]
