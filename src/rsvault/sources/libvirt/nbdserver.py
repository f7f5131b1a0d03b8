"""Serving a disk image read-only over NBD: qemu-nbd under `timeout`, detached from us.

Each server listens on a unix socket in a short private folder (socket paths are limited to
107 bytes) and ends itself when its time is up, whether or not anyone stops it. A server is
known by its PID and its socket: before a signal is sent, /proc must still show that PID
alive as the qemu-nbd of that socket, so a reused PID is never hit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from rsvault.errors import Code, RsvaultError

_START_SECONDS = 15.0
_STOP_SECONDS = 5.0
_POLL_SECONDS = 0.05
_CLIENTS = 16
_LOG = "server.log"


def make_socket_dir() -> str:
    """A new private folder for sockets: under /run when we may write there, else /tmp."""
    base = "/run" if os.access("/run", os.W_OK | os.X_OK) else None
    return tempfile.mkdtemp(prefix="rsvault-nbd-", dir=base)


def start_server(image: Path, socket: Path, seconds: int) -> int:
    """Serve `image` read-only on `socket`; the server ends itself after `seconds`.
    `setsid --fork` detaches it: it outlives this command and is never our zombie.
    Returns its PID once the socket exists."""
    pid_file = socket.with_suffix(".pid")
    log = socket.parent / _LOG
    argv = [
        "setsid", "--fork", "timeout", "--signal=TERM", f"{seconds}s",
        "qemu-nbd", "--read-only", "--persistent", f"--shared={_CLIENTS}",
        "--format=raw", f"--socket={socket}", f"--pid-file={pid_file}", str(image),
    ]  # fmt: skip
    with open(log, "ab") as err:
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err, check=True)
    try:
        return _wait_for_server(pid_file, socket, log)
    finally:
        pid_file.unlink(missing_ok=True)


def _wait_for_server(pid_file: Path, socket: Path, log: Path) -> int:
    waited = 0.0
    while waited < _START_SECONDS:
        if pid_file.exists() and socket.exists():
            text = pid_file.read_text().strip()
            if text.isdigit():
                return int(text)
        _sleep(_POLL_SECONDS)
        waited += _POLL_SECONDS
    reason = log.read_text(errors="replace").strip() if log.exists() else ""
    raise RsvaultError(
        Code.FILESYSTEM_NOT_SUPPORTED,
        disk=socket.stem,
        reason=f"qemu-nbd did not start: {reason or 'no message'}",
    )


def _sleep(seconds: float) -> None:
    # Real time, not the injected clock: this waits for another process, which a fake clock
    # cannot hurry.
    time.sleep(seconds)


def is_serving(pid: int, socket: str) -> bool:
    """Alive (a zombie is not) and still the qemu-nbd of this socket, not a reused PID."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    alive = status.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")
    return alive and f"--socket={socket}".encode() in argv


def stop_server(pid: int, socket: str) -> None:
    """TERM, then KILL if it is still serving after a few seconds; nothing if it is gone."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not is_serving(pid, socket):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        waited = 0.0
        while waited < _STOP_SECONDS and is_serving(pid, socket):
            _sleep(_POLL_SECONDS)
            waited += _POLL_SECONDS


def remove_socket_dir(folder: Path, sockets: Iterable[str]) -> None:
    """Remove the named sockets and the servers' log, then the folder if that emptied it:
    only the files the servers made, never a whole tree."""
    for name in [*sockets, _LOG]:
        with contextlib.suppress(OSError):
            (folder / name).unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()
