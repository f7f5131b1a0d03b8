"""Messages between rsvault and its worker processes, over a Unix socket pair.

A message is a small pickled header plus an optional raw payload (chunks, megabytes at a
time) and optionally open file descriptors. The payload never goes through pickle: it is sent
from the sender's buffers and received straight into one buffer. Descriptors travel as
SCM_RIGHTS with the frame's first bytes, so a worker can write into files it could not open
itself.

Frame: header length (uint32) ‖ payload length (uint64) ‖ pickle(header) ‖ payload.
"""

from __future__ import annotations

import os
import pickle
import socket
import struct
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rsvault.core.memory import tune_allocator

_FRAME = struct.Struct("<IQ")
# Large socket buffers let a worker hand over a whole part without waiting for each piece
# of it to be read (the kernel caps them at net.core.wmem_max / rmem_max).
BUFFER_BYTES = 8 * 1024 * 1024
MAX_FDS = 250  # the kernel passes at most 253 descriptors in one message (SCM_MAX_FD)


def spawn(module: str) -> tuple[socket.socket, subprocess.Popen[bytes]]:
    """Start `python -m module FD`, a worker that serves this end of a new socket pair."""
    parent, child = socket_pair()
    with child:
        process = subprocess.Popen(
            [sys.executable, "-m", module, str(child.fileno())],
            pass_fds=(child.fileno(),),
            stdin=subprocess.DEVNULL,
        )
    return parent, process


def ask_to_stop(sock: socket.socket, process: subprocess.Popen[bytes], *, kill: bool) -> None:
    """Tell a worker from `spawn` to finish (or kill it), without waiting for it: several are
    told first and then reaped, so their exits overlap. It closes its end as it exits."""
    if not kill:
        try:
            send(sock, ("stop",))
            return
        except OSError:
            pass  # gone already, or about to be
    process.kill()


def reap(sock: socket.socket, process: subprocess.Popen[bytes]) -> None:
    """Wait for a worker told to stop (`ask_to_stop`), and close this end of its socket."""
    process.wait()
    sock.close()


def child_main(serve: Callable[[socket.socket, Any], None]) -> None:
    """The body of a worker started by `spawn`: `serve(sock, setup)` with the set-up the
    parent sends first. A bug is reported to the parent as ("failed", traceback)."""
    tune_allocator()
    sock = socket.socket(fileno=int(sys.argv[1]))
    try:
        header, _payload = receive(sock)
        serve(sock, header[1])
    except (EOFError, BrokenPipeError, ConnectionResetError):
        pass  # the parent went away: nothing left to do
    except BaseException:
        send(sock, ("failed", traceback.format_exc()))
        raise


def socket_pair() -> tuple[socket.socket, socket.socket]:
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    for end in (parent, child):
        end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUFFER_BYTES)
        end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER_BYTES)
    return parent, child


def send(
    sock: socket.socket,
    header: Any,
    payload: Sequence[bytes | bytearray | memoryview] = (),
    fds: Sequence[int] = (),
) -> None:
    if len(fds) > MAX_FDS:
        raise ValueError(f"{len(fds)} descriptors in one message; at most {MAX_FDS}")
    head = pickle.dumps(header, protocol=pickle.HIGHEST_PROTOCOL)
    size = sum(len(part) for part in payload)
    frame = _FRAME.pack(len(head), size) + head
    if fds:
        sent = socket.send_fds(sock, [frame], list(fds))
        frame = frame[sent:]
    sock.sendall(frame)
    for part in payload:
        sock.sendall(part)


def receive(sock: socket.socket) -> tuple[Any, memoryview]:
    """The next header and payload; EOFError when the other end has closed."""
    header, payload, _fds = receive_with_fds(sock, max_fds=0)
    return header, payload


def receive_with_fds(sock: socket.socket, max_fds: int) -> tuple[Any, memoryview, list[int]]:
    """The next header, payload and the descriptors sent with it (the caller closes them)."""
    frame, fds = _read_frame(sock, max_fds)
    try:
        head_length, size = _FRAME.unpack(frame)
        header = pickle.loads(_read_exactly(sock, head_length))
        payload = memoryview(_read_exactly(sock, size)) if size else memoryview(b"")
    except BaseException:
        close_all(fds)
        raise
    return header, payload, fds


def _read_frame(sock: socket.socket, max_fds: int) -> tuple[bytearray, list[int]]:
    if not max_fds:
        return _read_exactly(sock, _FRAME.size), []
    frame, fds = bytearray(), []
    while len(frame) < _FRAME.size:
        data, more, _flags, _address = socket.recv_fds(sock, _FRAME.size - len(frame), max_fds)
        fds += more
        if not data:
            close_all(fds)
            raise EOFError("the other end closed the connection")
        frame += data
    return frame, fds


def _read_exactly(sock: socket.socket, size: int) -> bytearray:
    buffer = bytearray(size)
    view = memoryview(buffer)
    while view:
        got = sock.recv_into(view)
        if not got:
            raise EOFError("the other end closed the connection")
        view = view[got:]
    return buffer


def close_all(fds: Iterable[int]) -> None:
    """Close every descriptor in `fds` (received ones nobody took, or ones not sent)."""
    for fd in fds:
        os.close(fd)
